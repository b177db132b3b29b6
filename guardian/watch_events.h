// GuardianEvents: the events of Guardian.Watch (SPEC §9) that one step of
// the guardian's loop means, from its status before and after the step
// (subject "executor"). A pure function; the mapping is
// common/control/event_diff.h's, fed from GuardianStatus.
#ifndef APPKIT_GUARDIAN_WATCH_EVENTS_H_
#define APPKIT_GUARDIAN_WATCH_EVENTS_H_

#include <vector>

#include "absl/time/time.h"
#include "proto/event.pb.h"
#include "proto/guardian.pb.h"

namespace appkit::guardian {

inline constexpr char kExecutorSubject[] = "executor";

std::vector<v1::Event> GuardianEvents(const v1::GuardianStatus& before,
                                      const v1::GuardianStatus& after, absl::Time now);

}  // namespace appkit::guardian

#endif  // APPKIT_GUARDIAN_WATCH_EVENTS_H_
