#include "controller/status_view.h"

#include "common/base/time_format.h"
#include "controller/debug_info.h"

namespace appkit::controller {

WorkerInfo InfoOf(int index, const WorkerConfig& config) {
  return WorkerInfo{index,
                    config.name,
                    config.entry,
                    config.pid_filename,
                    config.stdout_filename,
                    config.stderr_filename};
}

v1::WorkerState StateView(WorkerState state) {
  switch (state) {
    case WorkerState::kStarting:
      return v1::WORKER_STATE_STARTING;
    case WorkerState::kRunning:
      return v1::WORKER_STATE_RUNNING;
    case WorkerState::kWaitingToRestart:
      return v1::WORKER_STATE_WAITING_TO_RESTART;
    case WorkerState::kStopping:
      return v1::WORKER_STATE_STOPPING;
    case WorkerState::kExited:
      return v1::WORKER_STATE_EXITED;
    case WorkerState::kFatal:
      return v1::WORKER_STATE_FATAL;
  }
  return v1::WORKER_STATE_UNSPECIFIED;
}

v1::WorkerStatus WorkerStatusView(const WorkerInfo& info, const WorkerRecord& record) {
  v1::WorkerStatus status;
  status.set_index(info.index);
  status.set_name(info.name);
  status.set_entry(info.entry);
  status.set_state(StateView(record.state));
  status.set_running(record.pid > 0);
  status.set_ready(record.ready);
  if (record.start_time != absl::InfinitePast()) {
    v1::ProcessRun* current = status.mutable_current();
    current->set_pid(record.pid);
    *current->mutable_start_time() = ToProtoTime(record.start_time);
  }
  status.set_restart_count(record.restart_count);
  if (record.start_after) *status.mutable_start_after() = ToProtoTime(*record.start_after);
  if (record.kill_at) *status.mutable_kill_at() = ToProtoTime(*record.kill_at);
  for (const WorkerRun& run : record.history) {
    v1::ProcessRun* past = status.add_history();
    past->set_pid(run.pid);
    *past->mutable_start_time() = ToProtoTime(run.start_time);
    *past->mutable_end_time() = ToProtoTime(run.end_time);
    past->set_exitcode(run.exit.exitcode());
    past->set_description(run.description);
    past->set_error(run.error);
  }
  status.set_consecutive_failures(record.consecutive_failures);
  status.set_pid_filename(info.pid_filename);
  status.set_stdout_filename(info.stdout_filename);
  status.set_stderr_filename(info.stderr_filename);
  return status;
}

v1::ListWorkersResponse ListWorkersView(pid_t controller_pid, bool quit_requested,
                                        const std::vector<WorkerInfo>& infos,
                                        const std::vector<WorkerRecord>& records) {
  v1::ListWorkersResponse response;
  response.set_controller_pid(controller_pid);
  response.set_quit_requested(quit_requested);
  for (size_t i = 0; i < infos.size() && i < records.size(); ++i) {
    *response.add_workers() = WorkerStatusView(infos[i], records[i]);
  }
  return response;
}

std::string DebugJsonView(absl::Time now, const std::vector<WorkerInfo>& infos,
                          const std::vector<WorkerRecord>& records) {
  std::vector<v1::WorkerStatus> statuses;
  statuses.reserve(infos.size());
  for (size_t i = 0; i < infos.size() && i < records.size(); ++i) {
    statuses.push_back(WorkerStatusView(infos[i], records[i]));
  }
  return RenderDebugInfo(now, statuses);
}

}  // namespace appkit::controller
