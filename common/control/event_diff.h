// SubjectEvents: the events (appkit.v1.Event, SPEC §9) that one
// supervised subject's change of status means: the executor of a
// guardian, or one worker of a pool. A pure function of two views of the
// subject, before and after one step of its supervisor's loop; the
// guardian and the pool map their status messages onto these views
// (guardian/watch_events.h, controller/watch_events.h).
//
// The mapping, in the order the events come within one step:
//   QUIT_REQUESTED     `quit` turns non-empty (description: it)
//   WATCHDOG           a run's error turns to "watchdog..."
//   EXITED             the run that was running has ended (exitcode,
//                      description, error of that run)
//   FATAL              the state turns FATAL
//   RESTART_SCHEDULED  restart_at is set or moves (description: when)
//   STARTED            a run with a new pid is current
//   READY              `ready` turns true
//   STOPPED            the state turns EXITED
// Every event carries the subject's state after the step (the enum's short
// name), and the pid of the run it is about (0 when none).
#ifndef APPKIT_COMMON_CONTROL_EVENT_DIFF_H_
#define APPKIT_COMMON_CONTROL_EVENT_DIFF_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/repeated_field.h"
#include "google/protobuf/timestamp.pb.h"
#include "proto/event.pb.h"
#include "proto/process.pb.h"

namespace appkit {

struct SubjectView {
  std::string state;                        // short name: "RUNNING"
  const v1::ProcessRun* current = nullptr;  // null: none yet
  const google::protobuf::RepeatedPtrField<v1::ProcessRun>* history = nullptr;  // may be null
  bool ready = false;
  const google::protobuf::Timestamp* restart_at = nullptr;  // null: none due
  std::string quit;  // non-empty once quit was requested (why)
};

std::vector<v1::Event> SubjectEvents(absl::string_view subject, const SubjectView& before,
                                     const SubjectView& after, absl::Time now);

// "GUARDIAN_STATE_FATAL" with prefix "GUARDIAN_STATE_" -> "FATAL".
std::string ShortStateName(absl::string_view name, absl::string_view prefix);

// An event of `kind` about `subject`, stamped `now`, in state `state`.
v1::Event MakeEvent(v1::EventKind kind, absl::string_view subject, absl::string_view state,
                    absl::Time now);

}  // namespace appkit

#endif  // APPKIT_COMMON_CONTROL_EVENT_DIFF_H_
