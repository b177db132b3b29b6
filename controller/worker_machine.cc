#include "controller/worker_machine.h"

#include <signal.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/base/log.h"

namespace appkit::controller {

// The whole design: read it with the table in worker_machine.h.
using M = WorkerMachine;
// clang-format off
const M::Action M::kTable[kWorkerStateCount][kWorkerEventCount] = {
    // Spawned, SpawnFailed, EntryRunning, Exited, Stop, RestartDue, KillDue, CheckDue, Pong,
    // Start, Restart, Ready, ReadyDue, WatchdogDue
    /* STARTING */ {&M::Launched, &M::Failed, &M::Running, &M::Ended, &M::BeginStop, &M::Ignore,
                    &M::KillHung, &M::Ignore, &M::Ignore, &M::Refuse, &M::RestartRun,
                    &M::BecomeReady, &M::NotReady, &M::Watch},
    /* RUNNING  */ {&M::Ignore, &M::Ignore, &M::Ignore, &M::Ended, &M::BeginStop, &M::Ignore,
                    &M::KillHung, &M::Check, &M::Answered, &M::Refuse, &M::RestartRun,
                    &M::Ignore, &M::Ignore, &M::Watch},
    /* WAITING  */ {&M::Ignore, &M::Ignore, &M::Ignore, &M::Ignore, &M::StopWaiting, &M::Spawn,
                    &M::Ignore, &M::Ignore, &M::Ignore, &M::StartNow, &M::StartNow, &M::Ignore,
                    &M::Ignore, &M::Ignore},
    /* STOPPING */ {&M::Late, &M::Stopped, &M::Ignore, &M::Stopped, &M::NoRestart, &M::Ignore,
                    &M::Kill, &M::Ignore, &M::Ignore, &M::StartAfter, &M::StartAfter, &M::Ignore,
                    &M::Ignore, &M::Ignore},
    /* EXITED   */ {&M::Ignore, &M::Ignore, &M::Ignore, &M::Ignore, &M::Ignore, &M::Ignore,
                    &M::Ignore, &M::Ignore, &M::Ignore, &M::StartNow, &M::StartNow, &M::Ignore,
                    &M::Ignore, &M::Ignore},
    /* FATAL    */ {&M::Ignore, &M::Ignore, &M::Ignore, &M::Ignore, &M::StopWaiting, &M::Ignore,
                    &M::Ignore, &M::Ignore, &M::Ignore, &M::StartNow, &M::StartNow, &M::Ignore,
                    &M::Ignore, &M::Ignore},
};
// clang-format on

const char* WorkerStateName(WorkerState state) {
  static const char* const kNames[kWorkerStateCount] = {"STARTING", "RUNNING", "WAITING_TO_RESTART",
                                                        "STOPPING", "EXITED",  "FATAL"};
  return kNames[static_cast<int>(state)];
}

const char* WorkerEventName(WorkerEvent event) {
  static const char* const kNames[kWorkerEventCount] = {
      "Spawned",  "SpawnFailed", "EntryRunning", "Exited",  "Stop",  "RestartDue", "KillDue",
      "CheckDue", "Pong",        "Start",        "Restart", "Ready", "ReadyDue",   "WatchdogDue"};
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
  record_.kill_sent = false;
  ping_outstanding_ = false;
  unresponsive_ = false;
  record_.ready = false;
  record_.error.clear();
  Log().info("worker {} launched (pid {}, entry {})", config_.name, input.pid, config_.entry);
  if (config_.ready_timeout) {
    effects_->SetTimer(config_.index, WorkerEffects::Timer::kReady,
                       effects_->Now() + *config_.ready_timeout);
  }
  ArmWatchdog();
}

void WorkerMachine::ArmWatchdog() {
  if (!config_.watchdog_timeout) return;
  // At least kWatchdogRecheck ahead (the beat clock ticks every few ms).
  const absl::Duration left =
      *config_.watchdog_timeout - effects_->SinceLastHeartbeat(config_.index);
  effects_->SetTimer(config_.index, WorkerEffects::Timer::kWatchdog,
                     effects_->Now() + std::max(left, kWatchdogRecheck));
}

void WorkerMachine::BecomeReady(const WorkerInput&) {
  if (!config_.ready_timeout || record_.pid <= 0) return;
  effects_->CancelTimer(config_.index, WorkerEffects::Timer::kReady);
  record_.ready = true;
  record_.state = WorkerState::kRunning;
  Log().info("worker {} (pid {}) is ready", config_.name, record_.pid);
}

void WorkerMachine::NotReady(const WorkerInput&) {
  if (!config_.ready_timeout || record_.pid <= 0) return;
  record_.error = absl::StrCat("not ready within ", absl::FormatDuration(*config_.ready_timeout));
  Log().error("worker {} (pid {}) {}; killed", config_.name, record_.pid, record_.error);
  effects_->SignalWorker(config_.index, SIGKILL);
}

void WorkerMachine::Watch(const WorkerInput&) {
  if (!config_.watchdog_timeout || record_.pid <= 0 || !record_.error.empty()) return;
  const absl::Duration silent = effects_->SinceLastHeartbeat(config_.index);
  if (silent < *config_.watchdog_timeout) {
    ArmWatchdog();
    return;
  }
  record_.error =
      absl::StrCat("watchdog: no heartbeat for ", absl::FormatDuration(*config_.watchdog_timeout));
  Log().error("worker {} (pid {}) hung ({}, silent {}); SIGABRT, SIGKILL in {}", config_.name,
              record_.pid, record_.error,
              absl::FormatDuration(absl::Trunc(silent, absl::Milliseconds(1))),
              absl::FormatDuration(kHungKillGrace));
  effects_->SignalWorker(config_.index, SIGABRT);
  effects_->SetTimer(config_.index, WorkerEffects::Timer::kKill, effects_->Now() + kHungKillGrace);
}

void WorkerMachine::KillHung(const WorkerInput&) {
  if (record_.pid <= 0) return;
  Log().warn("worker {} (pid {}) still running {} after SIGABRT; killed with SIGKILL", config_.name,
             record_.pid, absl::FormatDuration(kHungKillGrace));
  effects_->SignalWorker(config_.index, SIGKILL);
}

void WorkerMachine::Late(const WorkerInput& input) {
  Launched(input);
  if (record_.kill_at && effects_->Now() >= *record_.kill_at) {
    effects_->SignalWorker(config_.index, SIGKILL);
  }
}

void WorkerMachine::Failed(const WorkerInput& input) {
  Log().error("cannot start worker {}: {}", config_.name, input.detail);
  const absl::Time now = effects_->Now();
  AfterFailure(now, now, -1, nullptr, input.detail);  // -1: no exit code of the list
}

void WorkerMachine::Running(const WorkerInput&) {
  if (config_.ready_timeout) return;  // STARTING until NotifyReady
  record_.ready = true;
  record_.state = WorkerState::kRunning;
}

void WorkerMachine::RecordEnd(const ProcessExit& exit, const std::string& error,
                              const std::string& next) {
  // An error the pool set on this run ("not ready within ...", "watchdog:
  // ...") says more than what the worker said as it was killed.
  WorkerRun run{record_.pid, record_.start_time, effects_->Now(),
                exit,        exit.Describe(),    record_.error.empty() ? error : record_.error};
  record_.error.clear();
  record_.ready = false;
  if (config_.ready_timeout) effects_->CancelTimer(config_.index, WorkerEffects::Timer::kReady);
  if (config_.watchdog_timeout) {
    effects_->CancelTimer(config_.index, WorkerEffects::Timer::kWatchdog);
    if (!record_.stopped) effects_->CancelTimer(config_.index, WorkerEffects::Timer::kKill);
  }
  if (run.error.empty() && record_.kill_sent && exit.exitcode() == -SIGKILL) {
    run.error = "stop timeout";
  }
  const std::string why = run.error.empty() ? "" : absl::StrCat(" (", run.error, ")");
  if (record_.stopped) {
    Log().info("worker {} (pid {}) {}{}; {}", config_.name, run.pid, run.description, why, next);
  } else {
    Log().warn("worker {} (pid {}) {}{}; {}", config_.name, run.pid, run.description, why, next);
  }
  record_.history.push_back(std::move(run));
  if (record_.history.size() > kHistoryLength) record_.history.erase(record_.history.begin());
  record_.pid = 0;
  record_.kill_at.reset();
}

void WorkerMachine::AfterFailure(absl::Time start, absl::Time end, int exitcode,
                                 const ProcessExit* exit, const std::string& error) {
  using Verdict = internal::RestartSchedule::Verdict;
  internal::RestartSchedule::Decision decision{
      Verdict::kEnd, {}, "not restarted (no restart_interval)"};
  if (config_.restart_interval) {
    if (!schedule_) {
      static const RestartPolicy kDefaults;
      schedule_ = std::make_unique<internal::RestartSchedule>(
          config_.restart_policy ? *config_.restart_policy : kDefaults, config_.restart_interval,
          static_cast<uint64_t>(absl::ToUnixNanos(effects_->Now())) + config_.index);
    }
    decision = schedule_->OnRunEnded(start, end, exitcode, /*success_ends=*/false);
    record_.consecutive_failures = schedule_->failures();
    if (decision.verdict == Verdict::kEnd) decision.why = "not restarted: " + decision.why;
    if (decision.verdict == Verdict::kFatal) {
      decision.why += "; not restarted until StartWorker or RestartWorker";
    }
  }
  if (exit) RecordEnd(*exit, error, decision.why);
  if (decision.verdict == Verdict::kFatal) {
    if (!exit) Log().error("worker {}: {}", config_.name, decision.why);
    record_.start_after.reset();
    record_.state = WorkerState::kFatal;
    return;
  }
  if (decision.verdict == Verdict::kEnd) {
    record_.state = WorkerState::kExited;
    return;
  }
  record_.start_after = end + decision.delay;
  record_.state = WorkerState::kWaitingToRestart;
  effects_->SetTimer(config_.index, WorkerEffects::Timer::kRestart, *record_.start_after);
}

void WorkerMachine::Ended(const WorkerInput& input) {
  AfterFailure(record_.start_time, effects_->Now(), input.exit.exitcode(), &input.exit,
               input.error);
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
  if (input.event == WorkerEvent::kExited) {
    RecordEnd(input.exit, input.error, start_pending_ ? "restarting (requested)" : "stopped");
  }
  record_.kill_at.reset();
  record_.state = WorkerState::kExited;
  if (start_pending_) {
    record_.stopped = false;
    ResetPolicy();
    Spawn(input);
  }
}

void WorkerMachine::Refuse(const WorkerInput&) {
  refusal_ = absl::StrCat("worker '", config_.name, "' is ",
                          record_.state == WorkerState::kRunning ? "running" : "starting",
                          record_.pid > 0 ? absl::StrCat(" (pid ", record_.pid, ")") : "");
}

void WorkerMachine::ResetPolicy() {
  if (schedule_) schedule_->Reset();
  record_.consecutive_failures = 0;
}

void WorkerMachine::StartNow(const WorkerInput& input) {
  effects_->CancelTimer(config_.index, WorkerEffects::Timer::kRestart);
  record_.stopped = false;
  Log().info("starting worker {} ({}){}", config_.name, input.detail,
             record_.consecutive_failures > 0 ? "; the restart policy starts over" : "");
  ResetPolicy();
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
  record_.kill_sent = true;
  effects_->SignalWorker(config_.index, SIGKILL);
}

void WorkerMachine::Check(const WorkerInput&) {
  if (config_.watchdog_timeout || !config_.pingable) {  // heartbeats tell, or nothing can
    effects_->CheckPidFile(config_.index);
    return;
  }
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
