#include "controller/worker_machine.h"

#include <signal.h>

#include "absl/strings/str_cat.h"
#include "common/base/log.h"

namespace appkit::controller {

// The whole design: read it with the table in worker_machine.h.
using M = WorkerMachine;
// clang-format off
const M::Action M::kTable[kWorkerStateCount][kWorkerEventCount] = {
    // Spawned, SpawnFailed, EntryRunning, Exited, Stop, RestartDue, KillDue, CheckDue, Pong,
    // Start, Restart
    /* STARTING */ {&M::Launched, &M::Failed, &M::Running, &M::Ended, &M::BeginStop, &M::Ignore,
                    &M::Ignore, &M::Ignore, &M::Ignore, &M::Refuse, &M::RestartRun},
    /* RUNNING  */ {&M::Ignore, &M::Ignore, &M::Ignore, &M::Ended, &M::BeginStop, &M::Ignore,
                    &M::Ignore, &M::Check, &M::Answered, &M::Refuse, &M::RestartRun},
    /* WAITING  */ {&M::Ignore, &M::Ignore, &M::Ignore, &M::Ignore, &M::StopWaiting, &M::Spawn,
                    &M::Ignore, &M::Ignore, &M::Ignore, &M::StartNow, &M::StartNow},
    /* STOPPING */ {&M::Late, &M::Stopped, &M::Ignore, &M::Stopped, &M::NoRestart, &M::Ignore,
                    &M::Kill, &M::Ignore, &M::Ignore, &M::StartAfter, &M::StartAfter},
    /* EXITED   */ {&M::Ignore, &M::Ignore, &M::Ignore, &M::Ignore, &M::Ignore, &M::Ignore,
                    &M::Ignore, &M::Ignore, &M::Ignore, &M::StartNow, &M::StartNow},
};
// clang-format on

const char* WorkerStateName(WorkerState state) {
  static const char* const kNames[kWorkerStateCount] = {"STARTING", "RUNNING", "WAITING_TO_RESTART",
                                                        "STOPPING", "EXITED"};
  return kNames[static_cast<int>(state)];
}

const char* WorkerEventName(WorkerEvent event) {
  static const char* const kNames[kWorkerEventCount] = {
      "Spawned", "SpawnFailed", "EntryRunning", "Exited", "Stop",   "RestartDue",
      "KillDue", "CheckDue",    "Pong",         "Start",  "Restart"};
  return kNames[static_cast<int>(event)];
}

WorkerMachine::WorkerMachine(Config config, WorkerEffects* effects)
    : config_(std::move(config)), effects_(effects) {}

void WorkerMachine::Start() { Spawn(WorkerInput{WorkerEvent::kSpawned}); }

void WorkerMachine::Handle(const WorkerInput& input) {
  refusal_.clear();
  const Action action = kTable[static_cast<int>(record_.state)][static_cast<int>(input.event)];
  (this->*action)(input);
}

void WorkerMachine::Spawn(const WorkerInput& input) {
  if (input.event == WorkerEvent::kRestartDue || input.event == WorkerEvent::kRestart ||
      start_pending_) {
    ++record_.restart_count;
  }
  start_pending_ = false;
  record_.start_after.reset();
  record_.kill_at.reset();
  record_.state = WorkerState::kStarting;
  effects_->SpawnWorker(config_.index);
}

void WorkerMachine::Launched(const WorkerInput& input) {
  record_.pid = input.pid;
  record_.start_time = effects_->Now();
  ping_outstanding_ = false;
  unresponsive_ = false;
  Log().info("worker {} launched (pid {}, entry {})", config_.name, input.pid, config_.entry);
}

void WorkerMachine::Late(const WorkerInput& input) {
  Launched(input);
  if (record_.kill_at && effects_->Now() >= *record_.kill_at) {
    effects_->SignalWorker(config_.index, SIGKILL);
  }
}

void WorkerMachine::Failed(const WorkerInput& input) {
  Log().error("cannot start worker {}: {}", config_.name, input.detail);
  RestartOrEnd();
}

void WorkerMachine::Running(const WorkerInput&) { record_.state = WorkerState::kRunning; }

void WorkerMachine::RecordEnd(const ProcessExit& exit) {
  WorkerRun run{record_.pid, record_.start_time, effects_->Now(), exit, exit.Describe()};
  const bool restarts = !record_.stopped && config_.restart_interval.has_value();
  const std::string next =
      start_pending_ ? "restarting (requested)"
      : record_.stopped
          ? "stopped"
          : (restarts ? absl::StrCat("restart in ", absl::FormatDuration(*config_.restart_interval))
                      : "not restarted (no restart_interval)");
  if (record_.stopped) {
    Log().info("worker {} (pid {}) {}; {}", config_.name, run.pid, run.description, next);
  } else {
    Log().warn("worker {} (pid {}) {}; {}", config_.name, run.pid, run.description, next);
  }
  record_.history.push_back(std::move(run));
  if (record_.history.size() > kHistoryLength) record_.history.erase(record_.history.begin());
  record_.pid = 0;
  record_.kill_at.reset();
}

void WorkerMachine::RestartOrEnd() {
  if (record_.stopped || !config_.restart_interval) {
    record_.state = WorkerState::kExited;
    return;
  }
  record_.start_after = effects_->Now() + *config_.restart_interval;
  record_.state = WorkerState::kWaitingToRestart;
  effects_->SetTimer(config_.index, WorkerEffects::Timer::kRestart, *record_.start_after);
}

void WorkerMachine::Ended(const WorkerInput& input) {
  RecordEnd(input.exit);
  RestartOrEnd();
}

void WorkerMachine::BeginStop(const WorkerInput& input) {
  record_.stopped = true;
  Log().info("asking worker {} (pid {}) to quit ({})", config_.name, record_.pid, input.detail);
  effects_->AskToQuit(config_.index);
  record_.state = WorkerState::kStopping;
  if (config_.stop_timeout) {
    record_.kill_at = effects_->Now() + *config_.stop_timeout;
    effects_->SetTimer(config_.index, WorkerEffects::Timer::kKill, *record_.kill_at);
  }
}

void WorkerMachine::StopWaiting(const WorkerInput&) {
  record_.stopped = true;
  effects_->CancelTimer(config_.index, WorkerEffects::Timer::kRestart);
  record_.start_after.reset();
  record_.state = WorkerState::kExited;
}

void WorkerMachine::Stopped(const WorkerInput& input) {
  effects_->CancelTimer(config_.index, WorkerEffects::Timer::kKill);
  if (input.event == WorkerEvent::kExited) RecordEnd(input.exit);
  record_.kill_at.reset();
  record_.state = WorkerState::kExited;
  if (start_pending_) {
    record_.stopped = false;
    Spawn(input);
  }
}

void WorkerMachine::Refuse(const WorkerInput&) {
  refusal_ = absl::StrCat("worker '", config_.name, "' is ",
                          record_.state == WorkerState::kRunning ? "running" : "starting",
                          record_.pid > 0 ? absl::StrCat(" (pid ", record_.pid, ")") : "");
}

void WorkerMachine::StartNow(const WorkerInput& input) {
  if (record_.start_after) effects_->CancelTimer(config_.index, WorkerEffects::Timer::kRestart);
  record_.stopped = false;
  Log().info("starting worker {} ({})", config_.name, input.detail);
  Spawn(input);
}

void WorkerMachine::RestartRun(const WorkerInput& input) {
  BeginStop(input);
  start_pending_ = true;
}

void WorkerMachine::StartAfter(const WorkerInput&) { start_pending_ = true; }

void WorkerMachine::NoRestart(const WorkerInput&) { start_pending_ = false; }

void WorkerMachine::Kill(const WorkerInput&) {
  Log().warn(
      "stop timeout: worker {} (pid {}) still running {} after the quit request; "
      "killed with SIGKILL",
      config_.name, record_.pid, absl::FormatDuration(*config_.stop_timeout));
  effects_->SignalWorker(config_.index, SIGKILL);
}

void WorkerMachine::Check(const WorkerInput&) {
  if (ping_outstanding_ && !unresponsive_) {
    unresponsive_ = true;
    Log().warn("worker {} (pid {}) has not answered its control channel for {}: hung or stopped?",
               config_.name, record_.pid, absl::FormatDuration(config_.check_interval));
  }
  ping_outstanding_ = true;
  effects_->Ping(config_.index);
  effects_->CheckPidFile(config_.index);
}

void WorkerMachine::Answered(const WorkerInput&) {
  ping_outstanding_ = false;
  if (unresponsive_) {
    unresponsive_ = false;
    Log().info("worker {} (pid {}) answers its control channel again", config_.name, record_.pid);
  }
}

}  // namespace appkit::controller
