#include "controller/worker_launch.h"

#include "common/host/command_launch.h"
#include "proto/launch.pb.h"
#include "proto/wire.h"

namespace appkit::controller {

std::vector<std::pair<int, int>> PreparedLaunch::fds() const {
  std::vector<std::pair<int, int>> fds = {
      {stdio.out.get(), 1}, {stdio.err_fd(), 2}, {channel.theirs.get(), wire::kWorkerChannelFd}};
  if (heartbeat_fd >= 0) fds.emplace_back(heartbeat_fd, wire::kWorkerHeartbeatFd);
  return fds;
}

absl::StatusOr<PreparedLaunch> PrepareLaunch(const WorkerConfig& worker, uint64_t user_fd_limit,
                                             UniqueFd cgroup, int heartbeat_fd, int heartbeat_slot,
                                             const std::string& notify_socket) {
  PreparedLaunch prepared;
  absl::StatusOr<StdioFiles> stdio = OpenStdioFiles(worker.stdout_filename, worker.stderr_filename);
  if (!stdio.ok()) return stdio.status();
  prepared.stdio = std::move(*stdio);
  absl::StatusOr<WorkerChannel> channel = MakeWorkerChannel();
  if (!channel.ok()) return channel.status();
  prepared.channel = std::move(*channel);
  prepared.cgroup = std::move(cgroup);

  v1::WorkerLaunch launch;
  launch.set_name(worker.name);
  launch.set_process_title(worker.process_title);
  launch.set_entry(worker.entry);
  launch.set_resolved_entry(worker.resolved_entry);
  *launch.mutable_args() = worker.args;
  if (worker.logging) *launch.mutable_logging_config() = *worker.logging;
  launch.set_pid_filename(worker.pid_filename);
  launch.set_stdout_filename(worker.stdout_filename);
  launch.set_stderr_filename(worker.stderr_filename);
  launch.set_user_fd_limit(user_fd_limit);
  launch.set_notify_ready(worker.ready_timeout.has_value());
  if (worker.watchdog_timeout && heartbeat_fd >= 0) {
    launch.set_watchdog(true);
    launch.set_heartbeat_slot(heartbeat_slot);
    prepared.heartbeat_fd = heartbeat_fd;
  }
  if (worker.is_command() || !worker.command.environment.empty() ||
      !worker.command.working_directory.empty()) {
    *launch.mutable_command() = internal::CommandLaunchOf(worker.command, worker.program);
  }
  launch.set_notify_socket(notify_socket);
  prepared.request = launch.SerializeAsString();
  return prepared;
}

}  // namespace appkit::controller
