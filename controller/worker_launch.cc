#include "controller/worker_launch.h"

#include "proto/launch.pb.h"
#include "proto/wire.h"

namespace appkit::controller {

std::vector<std::pair<int, int>> PreparedLaunch::fds() const {
  return {
      {stdio.out.get(), 1}, {stdio.err_fd(), 2}, {channel.theirs.get(), wire::kWorkerChannelFd}};
}

absl::StatusOr<PreparedLaunch> PrepareLaunch(const WorkerConfig& worker, uint64_t user_fd_limit,
                                             UniqueFd cgroup) {
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
  prepared.request = launch.SerializeAsString();
  return prepared;
}

}  // namespace appkit::controller
