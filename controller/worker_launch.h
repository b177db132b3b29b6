// What one worker's fork needs: the launch message (v1::WorkerLaunch,
// proto/launch.proto) and the fds the worker gets, its stdout and stderr
// as fds 1 and 2 and its control channel as wire::kWorkerChannelFd (and,
// with a watchdog, the heartbeat table as wire::kWorkerHeartbeatFd),
// plus the cgroup to fork it into. The fork server (worker/main.cc)
// installs them in the child; the controller keeps `channel.ours`.
#ifndef APPKIT_CONTROLLER_WORKER_LAUNCH_H_
#define APPKIT_CONTROLLER_WORKER_LAUNCH_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/base/unique_fd.h"
#include "common/process/stdio_files.h"
#include "controller/config.h"
#include "controller/worker_channel.h"

namespace appkit::controller {

struct PreparedLaunch {
  std::string request;  // a serialized v1::WorkerLaunch
  StdioFiles stdio;
  WorkerChannel channel;
  UniqueFd cgroup;        // invalid: the fork server's own cgroup
  int heartbeat_fd = -1;  // the pool's heartbeat table (not owned), with a watchdog

  // {fd here, fd in the worker}, for ForkServer::Submit.
  std::vector<std::pair<int, int>> fds() const;
};

// Opens the worker's stdout and stderr (common/process/stdio_files.h) and makes
// its channel. Errors name the file or the call that failed; the worker
// is then not started (a failed spawn). With a watchdog_timeout, the
// worker beats into `heartbeat_slot` of the table on `heartbeat_fd`
// (wire::kWorkerHeartbeatFd in the worker). `notify_socket`: the pool's
// sd_notify socket, the worker's NOTIFY_SOCKET ("" for none).
absl::StatusOr<PreparedLaunch> PrepareLaunch(const WorkerConfig& worker, uint64_t user_fd_limit,
                                             UniqueFd cgroup, int heartbeat_fd = -1,
                                             int heartbeat_slot = 0,
                                             const std::string& notify_socket = "");

}  // namespace appkit::controller

#endif  // APPKIT_CONTROLLER_WORKER_LAUNCH_H_
