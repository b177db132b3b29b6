#include "guardian/status_view.h"

#include "common/base/time_format.h"

namespace appkit::guardian {
namespace {

void SetRun(const Run& run, v1::ProcessRun* out) {
  out->set_pid(run.pid);
  *out->mutable_start_time() = ToProtoTime(run.start_time);
  if (run.end_time) {
    *out->mutable_end_time() = ToProtoTime(*run.end_time);
    out->set_exitcode(run.exit.exitcode());
  }
  out->set_description(run.description);
  out->set_error(run.error);
}

}  // namespace

v1::GuardianState WireState(const Record& record) {
  switch (record.state) {
    case State::kCleaningUp:
      if (record.fatal) return v1::GUARDIAN_STATE_FATAL;
      return record.restart_at ? v1::GUARDIAN_STATE_WAITING_TO_RESTART
                               : v1::GUARDIAN_STATE_STARTING;
    case State::kStarting:
      return v1::GUARDIAN_STATE_STARTING;
    case State::kRunning:
      return v1::GUARDIAN_STATE_RUNNING;
    case State::kWaitingToRestart:
      return v1::GUARDIAN_STATE_WAITING_TO_RESTART;
    case State::kStopping:
      return v1::GUARDIAN_STATE_STOPPING;
    case State::kExited:
      return v1::GUARDIAN_STATE_EXITED;
    case State::kFatal:
      return v1::GUARDIAN_STATE_FATAL;
  }
  return v1::GUARDIAN_STATE_UNSPECIFIED;
}

v1::GuardianStatus StatusView(const Record& record, const StatusFacts& facts) {
  v1::GuardianStatus status;
  status.set_guardian_pid(facts.guardian_pid);
  status.set_state(WireState(record));
  *status.mutable_guardian_start_time() = ToProtoTime(facts.start_time);
  status.set_daemon_entry(facts.daemon_entry);
  status.set_name(facts.name);
  status.set_pid_filename(facts.pid_filename);
  status.set_control_socket(facts.guardian_socket);
  if (record.executor.pid != 0) SetRun(record.executor, status.mutable_executor());
  status.set_executor_running(record.executor_running);
  status.set_ready(record.ready);
  status.set_restart_count(record.restart_count);
  for (const Run& run : record.history) SetRun(run, status.add_history());
  if (facts.restart_interval) {
    *status.mutable_restart_interval() = ToProtoDuration(*facts.restart_interval);
  }
  if (record.restart_at) *status.mutable_restart_at() = ToProtoTime(*record.restart_at);
  if (record.kill_at) *status.mutable_kill_at() = ToProtoTime(*record.kill_at);
  status.set_quit_reason(record.quit_reason);
  status.set_controller_socket(facts.controller_socket);
  status.set_control_plane_plugin(facts.control_plane_plugin);
  status.set_consecutive_failures(record.consecutive_failures);
  return status;
}

}  // namespace appkit::guardian
