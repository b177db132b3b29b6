#include "controller/watch_events.h"

#include <string>

#include "absl/container/flat_hash_map.h"
#include "common/control/event_diff.h"

namespace appkit::controller {
namespace {

SubjectView ViewOf(const v1::WorkerStatus& status) {
  SubjectView view;
  view.state = ShortStateName(v1::WorkerState_Name(status.state()), "WORKER_STATE_");
  if (status.has_current()) view.current = &status.current();
  view.history = &status.history();
  view.ready = status.ready();
  if (status.has_start_after()) view.restart_at = &status.start_after();
  if (status.state() == v1::WORKER_STATE_STOPPING) view.quit = "stopping";
  return view;
}

}  // namespace

std::vector<v1::Event> WorkerEvents(const v1::WorkerStatus* before, const v1::WorkerStatus& after,
                                    absl::Time now) {
  const SubjectView after_view = ViewOf(after);
  if (before != nullptr) return SubjectEvents(after.name(), ViewOf(*before), after_view, now);
  std::vector<v1::Event> events;
  events.push_back(MakeEvent(v1::EVENT_KIND_WORKER_ADDED, after.name(), after_view.state, now));
  SubjectView none;
  none.state = after_view.state;  // added in this state: no state-change events
  for (v1::Event& event : SubjectEvents(after.name(), none, after_view, now)) {
    events.push_back(std::move(event));
  }
  return events;
}

std::vector<v1::Event> PoolEvents(
    const google::protobuf::RepeatedPtrField<v1::WorkerStatus>& before,
    const google::protobuf::RepeatedPtrField<v1::WorkerStatus>& after, absl::Time now) {
  absl::flat_hash_map<std::string, const v1::WorkerStatus*> old;
  for (const v1::WorkerStatus& worker : before) old[worker.name()] = &worker;
  std::vector<v1::Event> events;
  for (const v1::WorkerStatus& worker : after) {
    auto it = old.find(worker.name());
    const v1::WorkerStatus* was = it == old.end() ? nullptr : it->second;
    for (v1::Event& event : WorkerEvents(was, worker, now)) events.push_back(std::move(event));
    if (it != old.end()) old.erase(it);
  }
  for (const v1::WorkerStatus& worker : before) {
    if (old.contains(worker.name())) {
      events.push_back(MakeEvent(v1::EVENT_KIND_WORKER_REMOVED, worker.name(), "", now));
    }
  }
  return events;
}

}  // namespace appkit::controller
