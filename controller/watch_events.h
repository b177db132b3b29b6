// WorkerEvents: the events of Controller.Watch (SPEC §9) that one step of
// the pool's loop means, from the workers' statuses before and after it
// (subject: the worker's name). A pure function; a worker's own changes
// map as common/control/event_diff.h says (QUIT_REQUESTED when its state
// turns STOPPING); a worker that appears is WORKER_ADDED (before its own
// events), one that disappears WORKER_REMOVED. Workers are matched by name.
#ifndef APPKIT_CONTROLLER_WATCH_EVENTS_H_
#define APPKIT_CONTROLLER_WATCH_EVENTS_H_

#include <vector>

#include "absl/time/time.h"
#include "google/protobuf/repeated_field.h"
#include "proto/controller.pb.h"
#include "proto/event.pb.h"

namespace appkit::controller {

// One worker; `before` is null for a worker that was not there.
std::vector<v1::Event> WorkerEvents(const v1::WorkerStatus* before, const v1::WorkerStatus& after,
                                    absl::Time now);

// The whole pool.
std::vector<v1::Event> PoolEvents(
    const google::protobuf::RepeatedPtrField<v1::WorkerStatus>& before,
    const google::protobuf::RepeatedPtrField<v1::WorkerStatus>& after, absl::Time now);

}  // namespace appkit::controller

#endif  // APPKIT_CONTROLLER_WATCH_EVENTS_H_
