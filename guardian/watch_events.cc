#include "guardian/watch_events.h"

#include "common/control/event_diff.h"

namespace appkit::guardian {
namespace {

SubjectView ViewOf(const v1::GuardianStatus& status) {
  SubjectView view;
  view.state = ShortStateName(v1::GuardianState_Name(status.state()), "GUARDIAN_STATE_");
  if (status.has_executor()) view.current = &status.executor();
  view.history = &status.history();
  view.ready = status.ready();
  if (status.has_restart_at()) view.restart_at = &status.restart_at();
  view.quit = status.quit_reason();
  return view;
}

}  // namespace

std::vector<v1::Event> GuardianEvents(const v1::GuardianStatus& before,
                                      const v1::GuardianStatus& after, absl::Time now) {
  return SubjectEvents(kExecutorSubject, ViewOf(before), ViewOf(after), now);
}

}  // namespace appkit::guardian
