#include "guardian/machine.h"

#include <signal.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/base/log.h"

namespace appkit::guardian {

// The whole design: read it with the table in machine.h.
// clang-format off
using M = Machine;
const Machine::Action Machine::kTable[kStateCount][kEventCount] = {
    // Spawned, SpawnFailed, EntryRunning, ExecutorExited, Cleared, Quit, RestartDue, KillDue, Restart,
    // Ready, ReadyDue, WatchdogDue
    /* CLEANING */ {&M::Ignore, &M::Ignore, &M::Ignore, &M::Ignore, &M::Cleaned, &M::QuitCleaning,
                    &M::Ignore, &M::Ignore, &M::RestartCleaning, &M::Ignore, &M::Ignore, &M::Ignore},
    /* STARTING */ {&M::Launched, &M::Failed, &M::Running, &M::Ended, &M::Ignore, &M::BeginStop,
                    &M::Ignore, &M::KillHung, &M::BeginRestart, &M::BecomeReady, &M::NotReady,
                    &M::Watch},
    /* RUNNING  */ {&M::Ignore, &M::Ignore, &M::Ignore, &M::Ended, &M::Ignore, &M::BeginStop,
                    &M::Ignore, &M::KillHung, &M::BeginRestart, &M::Ignore, &M::Ignore, &M::Watch},
    /* WAITING  */ {&M::Ignore, &M::Ignore, &M::Ignore, &M::Ignore, &M::Ignore, &M::QuitWaiting,
                    &M::Spawn, &M::Ignore, &M::RestartNow, &M::Ignore, &M::Ignore, &M::Ignore},
    /* STOPPING */ {&M::Late, &M::Stopped, &M::Ignore, &M::Stopped, &M::Ignore, &M::QuitStopping,
                    &M::Ignore, &M::Kill, &M::Ignore, &M::Ignore, &M::Ignore, &M::Ignore},
    /* EXITED   */ {&M::Ignore, &M::Ignore, &M::Ignore, &M::Ignore, &M::Ignore, &M::Ignore,
                    &M::Ignore, &M::Ignore, &M::Ignore, &M::Ignore, &M::Ignore, &M::Ignore},
    /* FATAL    */ {&M::Ignore, &M::Ignore, &M::Ignore, &M::Ignore, &M::Ignore, &M::QuitCleaning,
                    &M::Ignore, &M::Ignore, &M::RestartNow, &M::Ignore, &M::Ignore, &M::Ignore},
};
// clang-format on

const char* StateName(State state) {
  static const char* const kNames[kStateCount] = {
      "CLEANING_UP", "STARTING", "RUNNING", "WAITING_TO_RESTART", "STOPPING", "EXITED", "FATAL"};
  return kNames[static_cast<int>(state)];
}

const char* EventName(Event event) {
  static const char* const kNames[kEventCount] = {
      "Spawned",    "SpawnFailed", "EntryRunning", "ExecutorExited", "Cleared",  "Quit",
      "RestartDue", "KillDue",     "Restart",      "Ready",          "ReadyDue", "WatchdogDue"};
  return kNames[static_cast<int>(event)];
}

Machine::Machine(Config config, Effects* effects)
    : config_(std::move(config)),
      effects_(effects),
      schedule_(config_.restart_policy, config_.restart_interval,
                static_cast<uint64_t>(absl::ToUnixNanos(effects->Now()))) {}

void Machine::Start() {
  record_.state = State::kCleaningUp;
  effects_->ClearLeftovers();
}

void Machine::Handle(const Input& input) {
  const Action action = kTable[static_cast<int>(record_.state)][static_cast<int>(input.event)];
  (this->*action)(input);
}

void Machine::Cleaned(const Input&) {
  if (record_.fatal) {
    record_.state = State::kFatal;  // nothing runs until Restart
    return;
  }
  if (!record_.restart_at) {
    AskForExecutor();  // the first one
    return;
  }
  record_.state = State::kWaitingToRestart;
  effects_->SetTimer(Effects::Timer::kRestart, *record_.restart_at);
}

void Machine::QuitCleaning(const Input& input) {
  Log().info("quit requested ({})", input.detail);
  record_.restart_at.reset();
  Exit(input.detail);
}

void Machine::Spawn(const Input&) {
  ++record_.restart_count;
  AskForExecutor();
}

void Machine::AskForExecutor() {
  record_.restart_at.reset();
  record_.state = State::kStarting;
  effects_->SpawnExecutor();
}

void Machine::Launched(const Input& input) {
  record_.executor = Run{input.pid, effects_->Now(), std::nullopt, {}, "running", ""};
  record_.executor_running = true;
  record_.kill_sent = false;
  stop_budget_ = absl::ZeroDuration();
  record_.ready = false;
  Log().info("executor {} started for entry {}", input.pid, config_.entry);
  if (config_.ready_timeout) {
    effects_->SetTimer(Effects::Timer::kReady, effects_->Now() + *config_.ready_timeout);
  }
  ArmWatchdog();
}

void Machine::ArmWatchdog() {
  if (!config_.watchdog_timeout) return;
  // At least kWatchdogRecheck ahead: the beat clock ticks every few ms,
  // so a slot read just before its tick is not re-read in a tight loop.
  const absl::Duration left = *config_.watchdog_timeout - effects_->SinceLastHeartbeat();
  effects_->SetTimer(Effects::Timer::kWatchdog, effects_->Now() + std::max(left, kWatchdogRecheck));
}

void Machine::Late(const Input& input) {
  Launched(input);
  const bool kill_due = record_.kill_at && effects_->Now() >= *record_.kill_at;
  effects_->SignalExecutor(kill_due ? SIGKILL : SIGTERM);
}

void Machine::Failed(const Input& input) {
  // Like a run that failed at once (the system may be out of processes
  // for a moment): the policy decides; -1 is no exit code of the list.
  const absl::Time now = effects_->Now();
  const std::string how = absl::StrCat("cannot start executor: ", input.detail);
  AfterFailure(now, now, -1, how, how, /*ran=*/false);
}

void Machine::AfterFailure(absl::Time start, absl::Time end, int exitcode, const std::string& how,
                           const std::string& logged, bool ran) {
  const internal::RestartSchedule::Decision decision =
      schedule_.OnRunEnded(start, end, exitcode, /*success_ends=*/true);
  record_.consecutive_failures = schedule_.failures();
  switch (decision.verdict) {
    case internal::RestartSchedule::Verdict::kEnd:
      if (config_.restart_interval) {
        Log().warn("{}; {}: daemon stopped", logged, decision.why);
        Exit(absl::StrCat(how, "; ", decision.why));
      } else {
        Log().warn("{}; no restart_interval, daemon stopped", logged);
        Exit(ran ? absl::StrCat(how, ", no restart") : how);
      }
      return;
    case internal::RestartSchedule::Verdict::kFatal:
      Log().error("{}; {}: no more restarts until Restart (appkitctl restart)", logged,
                  decision.why);
      record_.fatal = true;
      record_.restart_at.reset();
      break;
    case internal::RestartSchedule::Verdict::kRestart:
      Log().warn("{}; {}", logged, decision.why);
      record_.restart_at = end + decision.delay;
      break;
  }
  if (ran) {
    // A run ended: the next executor never starts before what it left is gone.
    record_.state = State::kCleaningUp;
    effects_->ClearLeftovers();
    return;
  }
  // Nothing ran, nothing is left.
  if (record_.fatal) {
    record_.state = State::kFatal;
    return;
  }
  record_.state = State::kWaitingToRestart;
  effects_->SetTimer(Effects::Timer::kRestart, *record_.restart_at);
}

void Machine::Running(const Input&) {
  if (config_.ready_timeout) {
    Log().info("executor {} is running entry {}; ready within {}?", record_.executor.pid,
               config_.entry, absl::FormatDuration(*config_.ready_timeout));
    return;
  }
  record_.state = State::kRunning;
  record_.ready = true;
  Log().info("executor {} is running entry {}", record_.executor.pid, config_.entry);
}

void Machine::BecomeReady(const Input&) {
  if (!config_.ready_timeout || !record_.executor_running) return;
  effects_->CancelTimer(Effects::Timer::kReady);
  record_.state = State::kRunning;
  record_.ready = true;
  Log().info("executor {}: entry {} is ready", record_.executor.pid, config_.entry);
}

void Machine::NotReady(const Input&) {
  if (!config_.ready_timeout || !record_.executor_running) return;
  record_.executor.error =
      absl::StrCat("not ready within ", absl::FormatDuration(*config_.ready_timeout));
  Log().error("executor {}: entry {} {}; killed", record_.executor.pid, config_.entry,
              record_.executor.error);
  effects_->SignalExecutor(SIGKILL);
}

void Machine::Watch(const Input&) {
  if (!config_.watchdog_timeout || !record_.executor_running || !record_.executor.error.empty()) {
    return;
  }
  const absl::Duration silent = effects_->SinceLastHeartbeat();
  if (silent < *config_.watchdog_timeout) {
    ArmWatchdog();
    return;
  }
  record_.executor.error =
      absl::StrCat("watchdog: no heartbeat for ", absl::FormatDuration(*config_.watchdog_timeout));
  Log().error("executor {}: entry {} hung ({}, silent {}); SIGABRT, SIGKILL in {}",
              record_.executor.pid, config_.entry, record_.executor.error,
              absl::FormatDuration(absl::Trunc(silent, absl::Milliseconds(1))),
              absl::FormatDuration(kHungKillGrace));
  effects_->SignalExecutor(SIGABRT);
  effects_->SetTimer(Effects::Timer::kKill, effects_->Now() + kHungKillGrace);
}

void Machine::KillHung(const Input&) {
  if (!record_.executor_running) return;
  Log().warn("executor {} still running {} after SIGABRT; killed with SIGKILL",
             record_.executor.pid, absl::FormatDuration(kHungKillGrace));
  effects_->SignalExecutor(SIGKILL);
}

void Machine::EndRun(const ProcessExit& exit, const std::string& description,
                     const std::string& error) {
  Run& run = record_.executor;
  run.end_time = effects_->Now();
  run.exit = exit;
  run.description = description;
  // An error appkit set on this run ("not ready within ...", "watchdog:
  // ...") says more than what the entry said as it was killed.
  if (run.error.empty()) run.error = error;
  if (run.error.empty() && record_.kill_sent && exit.exitcode() == -SIGKILL)
    run.error = "stop timeout";
  record_.executor_running = false;
  record_.ready = false;
  if (config_.ready_timeout) effects_->CancelTimer(Effects::Timer::kReady);
  if (config_.watchdog_timeout) {
    effects_->CancelTimer(Effects::Timer::kWatchdog);
    effects_->CancelTimer(Effects::Timer::kKill);  // a hung one's SIGKILL
  }
  record_.history.push_back(run);
  if (record_.history.size() > kHistoryLength) record_.history.pop_front();
}

void Machine::Ended(const Input& input) {
  const pid_t pid = record_.executor.pid;
  const std::string how = input.entry_ran
                              ? input.exit.Describe()
                              : absl::StrCat(input.exit.Describe(), " while loading entry ",
                                             config_.entry, " (before it ran)");
  EndRun(input.exit, how, input.error);
  if (input.exit.success()) {
    Log().info("executor {} exited with code 0; daemon finished", pid);
    Exit("executor exited with code 0");
    return;
  }
  const std::string why = input.error.empty() ? "" : absl::StrCat(" (", input.error, ")");
  AfterFailure(record_.executor.start_time, *record_.executor.end_time, input.exit.exitcode(),
               absl::StrCat("executor ", how), absl::StrCat("executor ", pid, " ", how, why),
               /*ran=*/true);
}

void Machine::BeginStop(const Input& input) {
  Log().info("quit requested ({})", input.detail);
  record_.quit_reason = input.detail;
  SignalForStop();
}

void Machine::SignalForStop() {
  record_.state = State::kStopping;
  effects_->SignalExecutor(SIGTERM);
  if (config_.stop_timeout) {
    record_.kill_at = effects_->Now() + std::max(*config_.stop_timeout, stop_budget_);
    effects_->SetTimer(Effects::Timer::kKill, *record_.kill_at);
  }
}

void Machine::BeginRestart(const Input&) {
  Log().info("restart requested: stopping executor {}", record_.executor.pid);
  record_.restart_requested = true;
  SignalForStop();
}

void Machine::QuitStopping(const Input& input) {
  if (!record_.restart_requested) return;  // stopping for good already
  Log().info("quit requested ({}) during a restart: the daemon stops", input.detail);
  record_.restart_requested = false;
  record_.quit_reason = input.detail;
}

void Machine::RestartNow(const Input&) {
  Log().info("restart requested: starting an executor now (the restart policy starts over)");
  effects_->CancelTimer(Effects::Timer::kRestart);
  StartPolicyOver();
  ++record_.restart_count;
  AskForExecutor();
}

void Machine::RestartCleaning(const Input&) {
  if (!record_.fatal && !record_.restart_at) return;  // the first start is under way
  Log().info("restart requested: an executor starts once the last one's leftovers are gone");
  StartPolicyOver();
  record_.restart_at = effects_->Now();
}

void Machine::StartPolicyOver() {
  schedule_.Reset();
  record_.consecutive_failures = 0;
  record_.fatal = false;
}

void Machine::QuitWaiting(const Input& input) {
  Log().info("quit requested ({})", input.detail);
  effects_->CancelTimer(Effects::Timer::kRestart);
  record_.restart_at.reset();
  Exit(input.detail);
}

void Machine::Stopped(const Input& input) {
  effects_->CancelTimer(Effects::Timer::kKill);
  if (input.event == Event::kSpawnFailed) {
    Log().info("the executor asked for before the stop could not start ({})", input.detail);
  } else {
    const std::string how = input.exit.Describe();
    Log().info("executor {} {}; {}", record_.executor.pid, how,
               record_.restart_requested ? "restarting it" : "daemon stopped");
    EndRun(input.exit, how, input.error);
  }
  if (record_.restart_requested) {
    // A graceful restart: the policy starts over, the next executor
    // starts once this one's leftovers are gone.
    record_.restart_requested = false;
    record_.kill_at.reset();
    StartPolicyOver();
    record_.restart_at = effects_->Now();
    record_.state = State::kCleaningUp;
    effects_->ClearLeftovers();
    return;
  }
  Exit(record_.quit_reason);
}

void Machine::Kill(const Input&) {
  Log().warn("stop timeout: executor {} still running {} after SIGTERM; killed with SIGKILL",
             record_.executor.pid,
             absl::FormatDuration(std::max(*config_.stop_timeout, stop_budget_)));
  record_.kill_sent = true;
  effects_->SignalExecutor(SIGKILL);
}

void Machine::Exit(const std::string& reason) {
  if (record_.quit_reason.empty()) record_.quit_reason = reason;
  record_.state = State::kExited;
  effects_->Finished();
}

}  // namespace appkit::guardian
