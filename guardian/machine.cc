#include "guardian/machine.h"

#include <signal.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/base/log.h"

namespace appkit::guardian {

// The whole design: read it with the table in machine.h.
// clang-format off
const Machine::Action Machine::kTable[kStateCount][kEventCount] = {
    // Spawned, SpawnFailed, EntryRunning, ExecutorExited, Cleared, Quit, RestartDue, KillDue,
    // Ready, ReadyDue, WatchdogDue
    /* CLEANING */ {&Machine::Ignore, &Machine::Ignore, &Machine::Ignore, &Machine::Ignore,
                    &Machine::Cleaned, &Machine::QuitCleaning, &Machine::Ignore, &Machine::Ignore,
                    &Machine::Ignore, &Machine::Ignore, &Machine::Ignore},
    /* STARTING */ {&Machine::Launched, &Machine::Failed, &Machine::Running, &Machine::Ended,
                    &Machine::Ignore, &Machine::BeginStop, &Machine::Ignore, &Machine::KillHung,
                    &Machine::BecomeReady, &Machine::NotReady, &Machine::Watch},
    /* RUNNING  */ {&Machine::Ignore, &Machine::Ignore, &Machine::Ignore, &Machine::Ended,
                    &Machine::Ignore, &Machine::BeginStop, &Machine::Ignore, &Machine::KillHung,
                    &Machine::Ignore, &Machine::Ignore, &Machine::Watch},
    /* WAITING  */ {&Machine::Ignore, &Machine::Ignore, &Machine::Ignore, &Machine::Ignore,
                    &Machine::Ignore, &Machine::QuitWaiting, &Machine::Spawn, &Machine::Ignore,
                    &Machine::Ignore, &Machine::Ignore, &Machine::Ignore},
    /* STOPPING */ {&Machine::Late, &Machine::Stopped, &Machine::Ignore, &Machine::Stopped,
                    &Machine::Ignore, &Machine::Ignore, &Machine::Ignore, &Machine::Kill,
                    &Machine::Ignore, &Machine::Ignore, &Machine::Ignore},
    /* EXITED   */ {&Machine::Ignore, &Machine::Ignore, &Machine::Ignore, &Machine::Ignore,
                    &Machine::Ignore, &Machine::Ignore, &Machine::Ignore, &Machine::Ignore,
                    &Machine::Ignore, &Machine::Ignore, &Machine::Ignore},
};
// clang-format on

const char* StateName(State state) {
  static const char* const kNames[kStateCount] = {"CLEANING_UP",        "STARTING", "RUNNING",
                                                  "WAITING_TO_RESTART", "STOPPING", "EXITED"};
  return kNames[static_cast<int>(state)];
}

const char* EventName(Event event) {
  static const char* const kNames[kEventCount] = {
      "Spawned",    "SpawnFailed", "EntryRunning", "ExecutorExited", "Cleared",    "Quit",
      "RestartDue", "KillDue",     "Ready",        "ReadyDue",       "WatchdogDue"};
  return kNames[static_cast<int>(event)];
}

Machine::Machine(Config config, Effects* effects) : config_(std::move(config)), effects_(effects) {}

void Machine::Start() {
  record_.state = State::kCleaningUp;
  effects_->ClearLeftovers();
}

void Machine::Handle(const Input& input) {
  const Action action = kTable[static_cast<int>(record_.state)][static_cast<int>(input.event)];
  (this->*action)(input);
}

void Machine::Cleaned(const Input&) {
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
  record_.executor = Run{input.pid, effects_->Now(), std::nullopt, {}, "running"};
  record_.executor_running = true;
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
  // Like a run that failed at once: retried after restart_interval (the
  // system may be out of processes for a moment), else the daemon ends.
  if (config_.restart_interval) {
    Log().error("cannot start executor: {}; retry in {}", input.detail,
                absl::FormatDuration(*config_.restart_interval));
    record_.restart_at = effects_->Now() + *config_.restart_interval;
    record_.state = State::kWaitingToRestart;
    effects_->SetTimer(Effects::Timer::kRestart, *record_.restart_at);
    return;
  }
  Log().error("cannot start executor: {}", input.detail);
  Exit(absl::StrCat("cannot start executor: ", input.detail));
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

void Machine::EndRun(const ProcessExit& exit, const std::string& description) {
  Run& run = record_.executor;
  run.end_time = effects_->Now();
  run.exit = exit;
  run.description = description;
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
  EndRun(input.exit, how);
  if (input.exit.success()) {
    Log().info("executor {} exited with code 0; daemon finished", pid);
    Exit("executor exited with code 0");
    return;
  }
  if (!config_.restart_interval) {
    Log().warn("executor {} {}; no restart_interval, daemon stopped", pid, how);
    Exit(absl::StrCat("executor ", how, ", no restart"));
    return;
  }
  Log().warn("executor {} {}; restart in {}", pid, how,
             absl::FormatDuration(*config_.restart_interval));
  record_.restart_at = *record_.executor.end_time + *config_.restart_interval;
  record_.state = State::kCleaningUp;
  effects_->ClearLeftovers();
}

void Machine::BeginStop(const Input& input) {
  Log().info("quit requested ({})", input.detail);
  record_.quit_reason = input.detail;
  record_.state = State::kStopping;
  effects_->SignalExecutor(SIGTERM);
  if (config_.stop_timeout) {
    record_.kill_at = effects_->Now() + *config_.stop_timeout;
    effects_->SetTimer(Effects::Timer::kKill, *record_.kill_at);
  }
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
    Log().info("the executor asked for before the quit could not start ({}); daemon stopped",
               input.detail);
  } else {
    const std::string how = input.exit.Describe();
    Log().info("executor {} {}; daemon stopped", record_.executor.pid, how);
    EndRun(input.exit, how);
  }
  Exit(record_.quit_reason);
}

void Machine::Kill(const Input&) {
  Log().warn("stop timeout: executor {} still running {} after SIGTERM; killed with SIGKILL",
             record_.executor.pid, absl::FormatDuration(*config_.stop_timeout));
  effects_->SignalExecutor(SIGKILL);
}

void Machine::Exit(const std::string& reason) {
  if (record_.quit_reason.empty()) record_.quit_reason = reason;
  record_.state = State::kExited;
  effects_->Finished();
}

}  // namespace appkit::guardian
