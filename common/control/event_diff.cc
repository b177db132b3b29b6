#include "common/control/event_diff.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/base/time_format.h"

namespace appkit {
namespace {

bool Running(const v1::ProcessRun* run) {
  return run != nullptr && run->pid() != 0 && !run->has_end_time();
}

// The run with `pid` in `view` (current or history), or null.
const v1::ProcessRun* FindRun(const SubjectView& view, int64_t pid) {
  if (view.current != nullptr && view.current->pid() == pid) return view.current;
  if (view.history != nullptr) {
    for (int i = view.history->size() - 1; i >= 0; --i) {
      if (view.history->Get(i).pid() == pid) return &view.history->Get(i);
    }
  }
  return nullptr;
}

bool IsWatchdog(const v1::ProcessRun* run) {
  return run != nullptr && absl::StartsWith(run->error(), "watchdog");
}

bool SameTime(const google::protobuf::Timestamp* a, const google::protobuf::Timestamp* b) {
  if (a == nullptr || b == nullptr) return a == b;
  return a->seconds() == b->seconds() && a->nanos() == b->nanos();
}

}  // namespace

std::string ShortStateName(absl::string_view name, absl::string_view prefix) {
  absl::ConsumePrefix(&name, prefix);
  return std::string(name);
}

v1::Event MakeEvent(v1::EventKind kind, absl::string_view subject, absl::string_view state,
                    absl::Time now) {
  v1::Event event;
  *event.mutable_time() = ToProtoTime(now);
  event.set_kind(kind);
  event.set_subject(std::string(subject));
  event.set_state(std::string(state));
  return event;
}

std::vector<v1::Event> SubjectEvents(absl::string_view subject, const SubjectView& before,
                                     const SubjectView& after, absl::Time now) {
  std::vector<v1::Event> events;
  auto add = [&](v1::EventKind kind, int64_t pid) -> v1::Event& {
    events.push_back(MakeEvent(kind, subject, after.state, now));
    events.back().set_pid(pid);
    return events.back();
  };
  const int64_t current_pid = after.current != nullptr ? after.current->pid() : 0;

  if (before.quit.empty() && !after.quit.empty()) {
    add(v1::EVENT_KIND_QUIT_REQUESTED, current_pid).set_description(after.quit);
  }
  // The run that was running before: has it ended, or turned to watchdog?
  if (Running(before.current)) {
    const v1::ProcessRun* was = before.current;
    const v1::ProcessRun* now_run = FindRun(after, was->pid());
    if (IsWatchdog(now_run) && !IsWatchdog(was)) {
      v1::Event& event = add(v1::EVENT_KIND_WATCHDOG, was->pid());
      event.set_error(now_run->error());
      event.set_description(now_run->error());
    }
    if (now_run != nullptr && now_run->has_end_time()) {
      v1::Event& event = add(v1::EVENT_KIND_EXITED, was->pid());
      event.set_exitcode(now_run->exitcode());
      event.set_description(now_run->description());
      event.set_error(now_run->error());
    }
  }
  if (after.state == "FATAL" && before.state != "FATAL") {
    v1::Event& event = add(v1::EVENT_KIND_FATAL, 0);
    if (after.current != nullptr) event.set_error(after.current->error());
    event.set_description("the crash-loop limit was reached: no restart until asked");
  }
  if (after.restart_at != nullptr && !SameTime(before.restart_at, after.restart_at)) {
    v1::Event& event = add(v1::EVENT_KIND_RESTART_SCHEDULED, 0);
    *event.mutable_restart_at() = *after.restart_at;
    const absl::Duration in = FromProtoTime(*after.restart_at) - now;
    event.set_description(absl::StrCat(
        "restart in ", absl::FormatDuration(absl::Trunc(std::max(in, absl::ZeroDuration()),
                                                        absl::Milliseconds(1)))));
  }
  const int64_t before_pid = before.current != nullptr ? before.current->pid() : 0;
  if (current_pid != 0 && current_pid != before_pid) {
    add(v1::EVENT_KIND_STARTED, current_pid);
    if (after.current->has_end_time()) {  // and ended within the same step
      v1::Event& event = add(v1::EVENT_KIND_EXITED, current_pid);
      event.set_exitcode(after.current->exitcode());
      event.set_description(after.current->description());
      event.set_error(after.current->error());
    }
  }
  if (after.ready && !before.ready) add(v1::EVENT_KIND_READY, current_pid);
  if (after.state == "EXITED" && before.state != "EXITED") {
    add(v1::EVENT_KIND_STOPPED, 0).set_description("supervision ended");
  }
  return events;
}

}  // namespace appkit
