// The status RPC's view of the guardian: appkit.v1.GuardianStatus built
// from the machine's Record (guardian/machine.h) and the facts fixed at
// start. A pure function: the wire enum and the machine's states evolve
// apart, and this file is where one is mapped onto the other.
#ifndef APPKIT_GUARDIAN_STATUS_VIEW_H_
#define APPKIT_GUARDIAN_STATUS_VIEW_H_

#include <sys/types.h>

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "guardian/machine.h"
#include "proto/guardian.pb.h"

namespace appkit::guardian {

// What the status shows besides the record.
struct StatusFacts {
  pid_t guardian_pid = 0;
  absl::Time start_time;
  std::string daemon_entry;
  std::string name;  // DaemonOptions::name
  std::string pid_filename;
  std::string guardian_socket;  // GuardianStatus.control_socket
  std::optional<absl::Duration> restart_interval;
  std::string control_plane_plugin;
  // Set when the controller serves its socket (StartWorkers runs).
  std::string controller_socket;
};

// CLEANING_UP is STARTING before the first executor and
// WAITING_TO_RESTART after a failed run (the restart waits for it).
v1::GuardianState WireState(const Record& record);

v1::GuardianStatus StatusView(const Record& record, const StatusFacts& facts);

}  // namespace appkit::guardian

#endif  // APPKIT_GUARDIAN_STATUS_VIEW_H_
