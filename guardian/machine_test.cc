// guardian/machine: every (state, event) cell of the table, with a fake
// clock and fake processes, then the policy details of the cells that act.
#include "guardian/machine.h"

#include <signal.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace appkit::guardian {
namespace {

absl::Time T0() { return absl::FromUnixSeconds(1'800'000'000); }

// Records what the machine asked for, in order.
class FakeEffects : public Effects {
 public:
  absl::Time Now() override { return now; }
  // Answers at once, as the guardian's fork server would a moment later.
  void SpawnExecutor() override {
    calls.push_back("spawn");
    if (!spawn_answers) return;
    Input answer{spawn_error.empty() ? Event::kSpawned : Event::kSpawnFailed};
    answer.pid = next_pid++;
    answer.detail = spawn_error;
    machine->Handle(answer);
  }
  void SignalExecutor(int signal) override { calls.push_back(absl::StrCat("signal ", signal)); }
  // Answers at once (the usual case: nothing was left), unless told not to.
  void ClearLeftovers() override {
    calls.push_back("clear");
    if (clear_answers) machine->Handle(Input{Event::kCleared});
  }
  void SetTimer(Timer timer, absl::Time at) override {
    calls.push_back(absl::StrCat("set ", Name(timer), " +", absl::FormatDuration(at - now)));
  }
  void CancelTimer(Timer timer) override { calls.push_back(absl::StrCat("cancel ", Name(timer))); }
  void Finished() override { calls.push_back("finished"); }
  absl::Duration SinceLastHeartbeat() override { return silent; }

  static const char* Name(Timer timer) {
    static const char* const kNames[] = {"restart", "kill", "ready", "watchdog"};
    return kNames[static_cast<int>(timer)];
  }

  Machine* machine = nullptr;
  absl::Time now = T0();
  pid_t next_pid = 100;
  std::string spawn_error;
  bool clear_answers = true;
  bool spawn_answers = true;
  absl::Duration silent = absl::ZeroDuration();
  std::vector<std::string> calls;
};

Input Exited(int code, bool entry_ran = true) {
  Input input{Event::kExecutorExited};
  input.exit.code = code;
  input.entry_ran = entry_ran;
  return input;
}

Input Of(Event event) {
  if (event == Event::kExecutorExited) return Exited(1);
  Input input{event};
  input.pid = 200;
  input.detail = event == Event::kQuit ? "SIGTERM from pid 1" : "out of processes";
  return input;
}

Machine::Config WithRestart() {
  return Machine::Config{"demo:main", absl::Seconds(1), absl::Seconds(10)};
}

// At most one restart within a minute: the second failure is FATAL.
Machine::Config WithLimit() {
  Machine::Config config = WithRestart();
  config.restart_policy.max_restarts = 1;
  return config;
}

// A machine brought into `state` by a path of real events; the effects
// recorded on the way are cleared.
void BringTo(Machine& machine, FakeEffects& effects, State state) {
  effects.clear_answers = state != State::kCleaningUp;  // stays there: the first start
  machine.Start();
  effects.clear_answers = true;
  if (state == State::kRunning || state == State::kStopping || state == State::kExited) {
    machine.Handle(Of(Event::kEntryRunning));
  }
  if (state == State::kWaitingToRestart) machine.Handle(Exited(1));
  if (state == State::kStopping) machine.Handle(Of(Event::kQuit));
  if (state == State::kExited) machine.Handle(Exited(0));
  if (state == State::kFatal) {  // with WithLimit()
    machine.Handle(Exited(1));
    machine.Handle(Of(Event::kRestartDue));
    machine.Handle(Exited(1));
  }
  ASSERT_EQ(machine.state(), state);
  effects.calls.clear();
}

struct Cell {
  State state;
  Event event;
  State next;
  std::vector<std::string> calls;
};

// The table of machine.h, cell by cell.
const std::vector<Cell>& Cells() {
  using S = State;
  using E = Event;
  static const auto* cells = new std::vector<Cell>{
      {S::kCleaningUp, E::kSpawned, S::kCleaningUp, {}},
      {S::kCleaningUp, E::kSpawnFailed, S::kCleaningUp, {}},
      {S::kCleaningUp, E::kEntryRunning, S::kCleaningUp, {}},
      {S::kCleaningUp, E::kExecutorExited, S::kCleaningUp, {}},
      {S::kCleaningUp, E::kCleared, S::kStarting, {"spawn"}},
      {S::kCleaningUp, E::kQuit, S::kExited, {"finished"}},
      {S::kCleaningUp, E::kRestartDue, S::kCleaningUp, {}},
      {S::kCleaningUp, E::kKillDue, S::kCleaningUp, {}},
      {S::kCleaningUp, E::kRestart, S::kCleaningUp, {}},
      {S::kCleaningUp, E::kReady, S::kCleaningUp, {}},
      {S::kCleaningUp, E::kReadyDue, S::kCleaningUp, {}},
      {S::kCleaningUp, E::kWatchdogDue, S::kCleaningUp, {}},
      {S::kStarting, E::kSpawned, S::kStarting, {}},
      {S::kStarting, E::kSpawnFailed, S::kWaitingToRestart, {"set restart +1s"}},
      {S::kStarting, E::kEntryRunning, S::kRunning, {}},
      {S::kStarting, E::kExecutorExited, S::kWaitingToRestart, {"clear", "set restart +1s"}},
      {S::kStarting, E::kCleared, S::kStarting, {}},
      {S::kStarting, E::kQuit, S::kStopping, {"signal 15", "set kill +10s"}},
      {S::kStarting, E::kRestartDue, S::kStarting, {}},
      {S::kStarting, E::kKillDue, S::kStarting, {"signal 9"}},  // a hung one's grace ended
      {S::kStarting, E::kRestart, S::kStopping, {"signal 15", "set kill +10s"}},
      {S::kStarting, E::kReady, S::kStarting, {}},        // no ready_timeout: ready at once
      {S::kStarting, E::kReadyDue, S::kStarting, {}},     // no ready_timeout: no timer
      {S::kStarting, E::kWatchdogDue, S::kStarting, {}},  // no watchdog_timeout: no timer
      {S::kRunning, E::kSpawned, S::kRunning, {}},
      {S::kRunning, E::kSpawnFailed, S::kRunning, {}},
      {S::kRunning, E::kEntryRunning, S::kRunning, {}},
      {S::kRunning, E::kExecutorExited, S::kWaitingToRestart, {"clear", "set restart +1s"}},
      {S::kRunning, E::kCleared, S::kRunning, {}},
      {S::kRunning, E::kQuit, S::kStopping, {"signal 15", "set kill +10s"}},
      {S::kRunning, E::kRestartDue, S::kRunning, {}},
      {S::kRunning, E::kKillDue, S::kRunning, {"signal 9"}},
      {S::kRunning, E::kRestart, S::kStopping, {"signal 15", "set kill +10s"}},
      {S::kRunning, E::kReady, S::kRunning, {}},
      {S::kRunning, E::kReadyDue, S::kRunning, {}},
      {S::kRunning, E::kWatchdogDue, S::kRunning, {}},
      {S::kWaitingToRestart, E::kSpawned, S::kWaitingToRestart, {}},
      {S::kWaitingToRestart, E::kSpawnFailed, S::kWaitingToRestart, {}},
      {S::kWaitingToRestart, E::kEntryRunning, S::kWaitingToRestart, {}},
      {S::kWaitingToRestart, E::kExecutorExited, S::kWaitingToRestart, {}},
      {S::kWaitingToRestart, E::kCleared, S::kWaitingToRestart, {}},
      {S::kWaitingToRestart, E::kQuit, S::kExited, {"cancel restart", "finished"}},
      {S::kWaitingToRestart, E::kRestartDue, S::kStarting, {"spawn"}},
      {S::kWaitingToRestart, E::kKillDue, S::kWaitingToRestart, {}},
      {S::kWaitingToRestart, E::kRestart, S::kStarting, {"cancel restart", "spawn"}},
      {S::kWaitingToRestart, E::kReady, S::kWaitingToRestart, {}},
      {S::kWaitingToRestart, E::kReadyDue, S::kWaitingToRestart, {}},
      {S::kWaitingToRestart, E::kWatchdogDue, S::kWaitingToRestart, {}},
      {S::kStopping, E::kSpawned, S::kStopping, {"signal 15"}},
      {S::kStopping, E::kSpawnFailed, S::kExited, {"cancel kill", "finished"}},
      {S::kStopping, E::kEntryRunning, S::kStopping, {}},
      {S::kStopping, E::kExecutorExited, S::kExited, {"cancel kill", "finished"}},
      {S::kStopping, E::kCleared, S::kStopping, {}},
      {S::kStopping, E::kQuit, S::kStopping, {}},
      {S::kStopping, E::kRestartDue, S::kStopping, {}},
      {S::kStopping, E::kKillDue, S::kStopping, {"signal 9"}},
      {S::kStopping, E::kRestart, S::kStopping, {}},
      {S::kStopping, E::kReady, S::kStopping, {}},
      {S::kStopping, E::kReadyDue, S::kStopping, {}},
      {S::kStopping, E::kWatchdogDue, S::kStopping, {}},
      {S::kExited, E::kSpawned, S::kExited, {}},
      {S::kExited, E::kSpawnFailed, S::kExited, {}},
      {S::kExited, E::kEntryRunning, S::kExited, {}},
      {S::kExited, E::kExecutorExited, S::kExited, {}},
      {S::kExited, E::kCleared, S::kExited, {}},
      {S::kExited, E::kQuit, S::kExited, {}},
      {S::kExited, E::kRestartDue, S::kExited, {}},
      {S::kExited, E::kKillDue, S::kExited, {}},
      {S::kExited, E::kRestart, S::kExited, {}},
      {S::kExited, E::kReady, S::kExited, {}},
      {S::kExited, E::kReadyDue, S::kExited, {}},
      {S::kExited, E::kWatchdogDue, S::kExited, {}},
      {S::kFatal, E::kSpawned, S::kFatal, {}},
      {S::kFatal, E::kSpawnFailed, S::kFatal, {}},
      {S::kFatal, E::kEntryRunning, S::kFatal, {}},
      {S::kFatal, E::kExecutorExited, S::kFatal, {}},
      {S::kFatal, E::kCleared, S::kFatal, {}},
      {S::kFatal, E::kQuit, S::kExited, {"finished"}},
      {S::kFatal, E::kRestartDue, S::kFatal, {}},
      {S::kFatal, E::kKillDue, S::kFatal, {}},
      {S::kFatal, E::kRestart, S::kStarting, {"cancel restart", "spawn"}},
      {S::kFatal, E::kReady, S::kFatal, {}},
      {S::kFatal, E::kReadyDue, S::kFatal, {}},
      {S::kFatal, E::kWatchdogDue, S::kFatal, {}},
  };
  return *cells;
}

TEST(GuardianMachineTest, TheTestsCoverEveryCell) {
  ASSERT_EQ(Cells().size(), static_cast<size_t>(kStateCount * kEventCount));
  bool seen[kStateCount][kEventCount] = {};
  for (const Cell& cell : Cells()) {
    bool& cell_seen = seen[static_cast<int>(cell.state)][static_cast<int>(cell.event)];
    EXPECT_FALSE(cell_seen) << StateName(cell.state) << " x " << EventName(cell.event);
    cell_seen = true;
  }
}

TEST(GuardianMachineTest, EveryCellOfTheTable) {
  for (const Cell& cell : Cells()) {
    SCOPED_TRACE(absl::StrCat(StateName(cell.state), " x ", EventName(cell.event)));
    FakeEffects effects;
    Machine machine(cell.state == State::kFatal ? WithLimit() : WithRestart(), &effects);
    effects.machine = &machine;
    BringTo(machine, effects, cell.state);
    machine.Handle(Of(cell.event));
    EXPECT_EQ(machine.state(), cell.next);
    EXPECT_EQ(effects.calls, cell.calls);
  }
}

TEST(GuardianMachineTest, StartClearsLeftoversThenSpawnsTheFirstExecutor) {
  FakeEffects effects;
  Machine machine(WithRestart(), &effects);
  effects.machine = &machine;
  EXPECT_EQ(machine.state(), State::kCleaningUp);
  effects.clear_answers = false;
  machine.Start();
  EXPECT_EQ(machine.state(), State::kCleaningUp);
  EXPECT_EQ(effects.calls, std::vector<std::string>{"clear"});
  machine.Handle(Input{Event::kCleared});
  EXPECT_EQ(machine.state(), State::kStarting);
  EXPECT_EQ(effects.calls, (std::vector<std::string>{"clear", "spawn"}));
  EXPECT_EQ(machine.record().restart_count, 0);
  EXPECT_EQ(machine.record().executor.pid, 100);
  EXPECT_TRUE(machine.record().executor_running);
  EXPECT_EQ(machine.record().executor.description, "running");
}

TEST(GuardianMachineTest, ExitZeroEndsTheDaemon) {
  FakeEffects effects;
  Machine machine(WithRestart(), &effects);
  effects.machine = &machine;
  BringTo(machine, effects, State::kRunning);
  machine.Handle(Exited(0));
  EXPECT_EQ(machine.state(), State::kExited);
  EXPECT_EQ(machine.record().quit_reason, "executor exited with code 0");
  EXPECT_EQ(effects.calls, std::vector<std::string>{"finished"});
}

TEST(GuardianMachineTest, WithoutRestartIntervalAFailureEndsTheDaemon) {
  FakeEffects effects;
  Machine machine(Machine::Config{"demo:main", std::nullopt, std::nullopt}, &effects);
  effects.machine = &machine;
  BringTo(machine, effects, State::kRunning);
  Input killed = Exited(9);
  killed.exit.signaled = true;
  machine.Handle(killed);
  EXPECT_EQ(machine.state(), State::kExited);
  EXPECT_EQ(machine.record().quit_reason, "executor killed by signal 9 (SIGKILL), no restart");
}

TEST(GuardianMachineTest, ARestartIsDueRestartIntervalAfterTheExit) {
  FakeEffects effects;
  Machine machine(WithRestart(), &effects);
  effects.machine = &machine;
  BringTo(machine, effects, State::kRunning);
  effects.now = T0() + absl::Seconds(5);
  machine.Handle(Exited(3));
  ASSERT_TRUE(machine.record().restart_at.has_value());
  EXPECT_EQ(*machine.record().restart_at, T0() + absl::Seconds(6));
  EXPECT_EQ(machine.record().history.back().description, "exited with code 3");
  EXPECT_EQ(machine.record().history.back().exit.exitcode(), 3);
  machine.Handle(Of(Event::kRestartDue));
  EXPECT_EQ(machine.record().restart_count, 1);
  EXPECT_EQ(machine.record().executor.pid, 101);
  EXPECT_FALSE(machine.record().restart_at.has_value());
}

TEST(GuardianMachineTest, TheRestartWaitsForTheLeftoversToBeGone) {
  FakeEffects effects;
  Machine machine(WithRestart(), &effects);
  effects.machine = &machine;
  BringTo(machine, effects, State::kRunning);
  effects.clear_answers = false;
  machine.Handle(Exited(1));
  EXPECT_EQ(machine.state(), State::kCleaningUp);
  EXPECT_FALSE(machine.record().executor_running);
  ASSERT_TRUE(machine.record().restart_at.has_value());
  EXPECT_EQ(*machine.record().restart_at, T0() + absl::Seconds(1));
  EXPECT_EQ(effects.calls, std::vector<std::string>{"clear"});
  // The leftovers took 3 s to die: the restart, due already, comes at once.
  effects.now = T0() + absl::Seconds(3);
  machine.Handle(Input{Event::kCleared});
  EXPECT_EQ(machine.state(), State::kWaitingToRestart);
  EXPECT_EQ(effects.calls, (std::vector<std::string>{"clear", "set restart +-2s"}));
  machine.Handle(Of(Event::kRestartDue));
  EXPECT_EQ(machine.state(), State::kStarting);
  EXPECT_EQ(machine.record().restart_count, 1);
}

TEST(GuardianMachineTest, AQuitWhileLeftoversAreClearedEndsTheDaemon) {
  FakeEffects effects;
  Machine machine(WithRestart(), &effects);
  effects.machine = &machine;
  BringTo(machine, effects, State::kRunning);
  effects.clear_answers = false;
  machine.Handle(Exited(1));
  machine.Handle(Of(Event::kQuit));
  EXPECT_EQ(machine.state(), State::kExited);
  EXPECT_EQ(machine.record().quit_reason, "SIGTERM from pid 1");
  EXPECT_FALSE(machine.record().restart_at.has_value());
  EXPECT_EQ(effects.calls, (std::vector<std::string>{"clear", "finished"}));
}

TEST(GuardianMachineTest, AnExitBeforeTheEntryRanSaysSo) {
  FakeEffects effects;
  Machine machine(WithRestart(), &effects);
  effects.machine = &machine;
  BringTo(machine, effects, State::kStarting);
  machine.Handle(Exited(1, /*entry_ran=*/false));
  EXPECT_EQ(machine.record().history.back().description,
            "exited with code 1 while loading entry demo:main (before it ran)");
}

TEST(GuardianMachineTest, ASpawnThatFailsWithoutRestartIntervalEndsTheDaemon) {
  FakeEffects effects;
  effects.spawn_error = "fork: out of processes";
  Machine machine(Machine::Config{"demo:main", std::nullopt, absl::Seconds(10)}, &effects);
  effects.machine = &machine;
  machine.Start();
  EXPECT_EQ(machine.state(), State::kExited);
  EXPECT_EQ(machine.record().quit_reason, "cannot start executor: fork: out of processes");
  EXPECT_EQ(effects.calls, (std::vector<std::string>{"clear", "spawn", "finished"}));
}

TEST(GuardianMachineTest, ASpawnThatFailsIsRetriedAfterRestartInterval) {
  FakeEffects effects;
  effects.spawn_error = "fork: out of processes";
  Machine machine(WithRestart(), &effects);
  effects.machine = &machine;
  machine.Start();
  EXPECT_EQ(machine.state(), State::kWaitingToRestart);
  effects.spawn_error.clear();
  machine.Handle(Of(Event::kRestartDue));
  EXPECT_EQ(machine.state(), State::kStarting);
  EXPECT_EQ(machine.record().restart_count, 1);
}

TEST(GuardianMachineTest, StoppingRecordsTheReasonAndTheKillTime) {
  FakeEffects effects;
  Machine machine(WithRestart(), &effects);
  effects.machine = &machine;
  BringTo(machine, effects, State::kRunning);
  machine.Handle(Of(Event::kQuit));
  EXPECT_EQ(machine.record().quit_reason, "SIGTERM from pid 1");
  EXPECT_EQ(*machine.record().kill_at, T0() + absl::Seconds(10));
  machine.Handle(Exited(0));
  EXPECT_EQ(machine.record().quit_reason, "SIGTERM from pid 1");
  EXPECT_FALSE(machine.record().executor_running);
}

TEST(GuardianMachineTest, WithoutStopTimeoutNothingIsEverKilled) {
  FakeEffects effects;
  Machine machine(Machine::Config{"demo:main", absl::Seconds(1), std::nullopt}, &effects);
  effects.machine = &machine;
  BringTo(machine, effects, State::kRunning);
  machine.Handle(Of(Event::kQuit));
  EXPECT_EQ(effects.calls, std::vector<std::string>{"signal 15"});
  EXPECT_FALSE(machine.record().kill_at.has_value());
}

TEST(GuardianMachineTest, AnExecutorAskedForBeforeAQuitIsStoppedWhenItArrives) {
  FakeEffects effects;
  Machine machine(WithRestart(), &effects);
  effects.machine = &machine;
  BringTo(machine, effects, State::kStopping);
  Input late{Event::kSpawned};
  late.pid = 300;
  machine.Handle(late);
  EXPECT_EQ(machine.record().executor.pid, 300);
  effects.now = T0() + absl::Seconds(11);  // past the kill time
  machine.Handle(late);
  EXPECT_EQ(effects.calls, (std::vector<std::string>{"signal 15", "signal 9"}));
}

// The executor asked for is the guardian's child from its clone on, before
// the answer naming it is read: while an answer is outstanding, nothing
// the loop can feed (its exit comes only after Spawned) starts a clear,
// which would kill it as a stray, or ends the daemon.
TEST(GuardianMachineTest, NothingIsClearedOrFinishedWhileASpawnIsOutstanding) {
  for (const Event event : {Event::kQuit, Event::kKillDue, Event::kRestartDue, Event::kCleared}) {
    FakeEffects effects;
    effects.spawn_answers = false;
    Machine machine(WithRestart(), &effects);
    effects.machine = &machine;
    machine.Start();  // cleared, then the spawn asked for
    ASSERT_EQ(machine.state(), State::kStarting);
    effects.calls.clear();
    machine.Handle(Of(event));         // STARTING, the answer outstanding
    machine.Handle(Of(Event::kQuit));  // STOPPING, still outstanding
    machine.Handle(Of(event));
    for (const std::string& call : effects.calls) {
      EXPECT_TRUE(call != "clear" && call != "finished") << EventName(event) << ": " << call;
    }
    EXPECT_EQ(machine.state(), State::kStopping);
    Input spawned{Event::kSpawned};
    spawned.pid = 300;
    machine.Handle(spawned);  // Late: stopped at once
    EXPECT_EQ(machine.record().executor.pid, 300);
    machine.Handle(Exited(0));
    EXPECT_EQ(machine.state(), State::kExited);
    EXPECT_EQ(effects.calls.back(), "finished");
  }
}

TEST(GuardianMachineTest, HistoryKeepsTheNewestTwentyRuns) {
  FakeEffects effects;
  Machine machine(WithRestart(), &effects);
  effects.machine = &machine;
  machine.Start();
  for (int i = 0; i < 25; ++i) {
    machine.Handle(Exited(1));
    machine.Handle(Of(Event::kRestartDue));
  }
  EXPECT_EQ(machine.record().history.size(), Machine::kHistoryLength);
  EXPECT_EQ(machine.record().history.back().pid, 124);
  EXPECT_EQ(machine.record().restart_count, 25);
}

// --- The restart policy (SPEC §8) -----------------------------------------

// The restart timer's offsets, in order, over `failures` runs that each
// last `run` and fail.
std::vector<absl::Duration> Delays(Machine::Config config, int failures, absl::Duration run) {
  FakeEffects effects;
  Machine machine(std::move(config), &effects);
  effects.machine = &machine;
  machine.Start();
  std::vector<absl::Duration> delays;
  for (int i = 0; i < failures && machine.state() == State::kStarting; ++i) {
    effects.now += run;
    machine.Handle(Exited(1));
    if (machine.state() != State::kWaitingToRestart) break;
    delays.push_back(*machine.record().restart_at - effects.now);
    effects.now = *machine.record().restart_at;
    machine.Handle(Of(Event::kRestartDue));
  }
  return delays;
}

TEST(GuardianMachineTest, TheDefaultPolicyIsAFixedIntervalWithoutLimit) {
  const std::vector<absl::Duration> delays = Delays(WithRestart(), 30, absl::Milliseconds(1));
  ASSERT_EQ(delays.size(), 30u);
  for (absl::Duration delay : delays) EXPECT_EQ(delay, absl::Seconds(1));
}

TEST(GuardianMachineTest, BackoffGrowsUpToMaxDelay) {
  Machine::Config config = WithRestart();
  config.restart_policy.backoff_multiplier = 2;
  config.restart_policy.max_delay = absl::Seconds(5);
  EXPECT_EQ(Delays(config, 5, absl::Milliseconds(1)),
            (std::vector<absl::Duration>{absl::Seconds(1), absl::Seconds(2), absl::Seconds(4),
                                         absl::Seconds(5), absl::Seconds(5)}));
}

TEST(GuardianMachineTest, AStableRunResetsTheBackoff) {
  Machine::Config config = WithRestart();
  config.restart_policy.backoff_multiplier = 2;
  config.restart_policy.reset_after = absl::Seconds(30);
  EXPECT_EQ(Delays(config, 3, absl::Seconds(31)),
            (std::vector<absl::Duration>{absl::Seconds(1), absl::Seconds(1), absl::Seconds(1)}));
}

TEST(GuardianMachineTest, TheCrashLoopLimitIsFatalAndRestartLeavesIt) {
  FakeEffects effects;
  Machine::Config config = WithRestart();
  config.restart_policy.max_restarts = 2;
  Machine machine(config, &effects);
  effects.machine = &machine;
  BringTo(machine, effects, State::kRunning);
  for (int i = 0; i < 2; ++i) {
    machine.Handle(Exited(1));
    ASSERT_EQ(machine.state(), State::kWaitingToRestart);
    machine.Handle(Of(Event::kRestartDue));
  }
  effects.calls.clear();
  Input failed = Exited(1);
  failed.error = "UNAVAILABLE: database refused";
  machine.Handle(failed);
  EXPECT_EQ(machine.state(), State::kFatal);
  EXPECT_EQ(effects.calls, std::vector<std::string>{"clear"});  // no timer, no spawn
  EXPECT_EQ(machine.record().consecutive_failures, 3);
  EXPECT_FALSE(machine.record().restart_at.has_value());
  EXPECT_EQ(machine.record().history.back().error, "UNAVAILABLE: database refused");
  machine.Handle(Of(Event::kRestart));
  EXPECT_EQ(machine.state(), State::kStarting);
  EXPECT_EQ(machine.record().consecutive_failures, 0);
  EXPECT_EQ(machine.record().restart_count, 3);
  // The count started over: two more restarts before the next FATAL.
  machine.Handle(Exited(1));
  EXPECT_EQ(machine.state(), State::kWaitingToRestart);
}

TEST(GuardianMachineTest, ARestartWhileFatalIsClearedWaitsForTheClear) {
  FakeEffects effects;
  Machine machine(WithLimit(), &effects);
  effects.machine = &machine;
  BringTo(machine, effects, State::kRunning);
  machine.Handle(Exited(1));
  machine.Handle(Of(Event::kRestartDue));
  effects.clear_answers = false;
  machine.Handle(Exited(1));
  EXPECT_EQ(machine.state(), State::kCleaningUp);
  EXPECT_TRUE(machine.record().fatal);
  machine.Handle(Of(Event::kRestart));
  EXPECT_FALSE(machine.record().fatal);
  machine.Handle(Input{Event::kCleared});
  EXPECT_EQ(machine.state(), State::kWaitingToRestart);
  EXPECT_EQ(*machine.record().restart_at, effects.now);
}

TEST(GuardianMachineTest, ANoRestartExitCodeEndsTheDaemon) {
  FakeEffects effects;
  Machine::Config config = WithRestart();
  config.restart_policy.no_restart_exit_codes = {3};
  Machine machine(config, &effects);
  effects.machine = &machine;
  BringTo(machine, effects, State::kRunning);
  machine.Handle(Exited(3));
  EXPECT_EQ(machine.state(), State::kExited);
  EXPECT_TRUE(absl::StrContains(machine.record().quit_reason, "no_restart_exit_codes"))
      << machine.record().quit_reason;
}

TEST(GuardianMachineTest, RestartStopsTheExecutorThenStartsOneAtOnce) {
  FakeEffects effects;
  Machine machine(WithRestart(), &effects);
  effects.machine = &machine;
  BringTo(machine, effects, State::kRunning);
  machine.Handle(Of(Event::kRestart));
  EXPECT_EQ(machine.state(), State::kStopping);
  EXPECT_TRUE(machine.record().restart_requested);
  machine.Handle(Of(Event::kKillDue));
  Input killed = Exited(9);
  killed.exit.signaled = true;
  machine.Handle(killed);
  EXPECT_EQ(machine.record().history.back().error, "stop timeout");
  EXPECT_EQ(effects.calls, (std::vector<std::string>{"signal 15", "set kill +10s", "signal 9",
                                                     "cancel kill", "clear", "set restart +0"}));
  EXPECT_EQ(machine.state(), State::kWaitingToRestart);
  machine.Handle(Of(Event::kRestartDue));
  EXPECT_EQ(machine.state(), State::kStarting);
  EXPECT_EQ(machine.record().restart_count, 1);
}

TEST(GuardianMachineTest, AQuitDuringARestartStopsTheDaemon) {
  FakeEffects effects;
  Machine machine(WithRestart(), &effects);
  effects.machine = &machine;
  BringTo(machine, effects, State::kRunning);
  machine.Handle(Of(Event::kRestart));
  machine.Handle(Of(Event::kQuit));
  machine.Handle(Exited(0));
  EXPECT_EQ(machine.state(), State::kExited);
  EXPECT_EQ(machine.record().quit_reason, "SIGTERM from pid 1");
}

// --- Readiness and the watchdog (SPEC §8) ---------------------------------

Machine::Config Supervised() {
  Machine::Config config = WithRestart();
  config.ready_timeout = absl::Seconds(2);
  config.watchdog_timeout = absl::Milliseconds(200);
  return config;
}

TEST(GuardianMachineTest, WithAReadyTimeoutStartingLastsUntilNotifyReady) {
  FakeEffects effects;
  Machine machine(Supervised(), &effects);
  effects.machine = &machine;
  machine.Start();
  EXPECT_EQ(effects.calls,
            (std::vector<std::string>{"clear", "spawn", "set ready +2s", "set watchdog +200ms"}));
  machine.Handle(Of(Event::kEntryRunning));
  EXPECT_EQ(machine.state(), State::kStarting);
  EXPECT_FALSE(machine.record().ready);
  effects.calls.clear();
  machine.Handle(Of(Event::kReady));
  EXPECT_EQ(machine.state(), State::kRunning);
  EXPECT_TRUE(machine.record().ready);
  EXPECT_EQ(effects.calls, std::vector<std::string>{"cancel ready"});
}

TEST(GuardianMachineTest, WithoutAReadyTimeoutTheEntryIsReadyWhenItRuns) {
  FakeEffects effects;
  Machine machine(WithRestart(), &effects);
  effects.machine = &machine;
  machine.Start();
  EXPECT_FALSE(machine.record().ready);
  machine.Handle(Of(Event::kEntryRunning));
  EXPECT_EQ(machine.state(), State::kRunning);
  EXPECT_TRUE(machine.record().ready);
}

TEST(GuardianMachineTest, NotReadyInTimeIsKilledAndCountedAsAFailedRun) {
  FakeEffects effects;
  Machine machine(Supervised(), &effects);
  effects.machine = &machine;
  machine.Start();
  machine.Handle(Of(Event::kEntryRunning));
  effects.calls.clear();
  machine.Handle(Of(Event::kReadyDue));
  EXPECT_EQ(effects.calls, std::vector<std::string>{"signal 9"});
  EXPECT_EQ(machine.record().executor.error, "not ready within 2s");
  Input killed{Event::kExecutorExited};
  killed.exit.signaled = true;
  killed.exit.code = SIGKILL;
  killed.entry_ran = true;
  effects.now += absl::Milliseconds(5);
  machine.Handle(killed);
  EXPECT_EQ(machine.state(), State::kWaitingToRestart);
  ASSERT_EQ(machine.record().history.size(), 1u);
  EXPECT_EQ(machine.record().history.back().error, "not ready within 2s");
  EXPECT_FALSE(machine.record().ready);
  // The next run starts with no error.
  machine.Handle(Of(Event::kRestartDue));
  EXPECT_EQ(machine.record().executor.error, "");
}

TEST(GuardianMachineTest, TheWatchdogRearmsAtTheLastBeatAndAbortsASilentEntry) {
  FakeEffects effects;
  Machine machine(Supervised(), &effects);
  effects.machine = &machine;
  machine.Start();
  machine.Handle(Of(Event::kEntryRunning));
  machine.Handle(Of(Event::kReady));
  effects.calls.clear();
  // It beat 50 ms ago: due again 150 ms from now.
  effects.silent = absl::Milliseconds(50);
  machine.Handle(Of(Event::kWatchdogDue));
  EXPECT_EQ(effects.calls, std::vector<std::string>{"set watchdog +150ms"});
  // Asleep as asked until 1 s from now (a beat ahead): due after that.
  effects.calls.clear();
  effects.silent = -absl::Seconds(1);
  machine.Handle(Of(Event::kWatchdogDue));
  EXPECT_EQ(effects.calls, std::vector<std::string>{"set watchdog +1.2s"});
  // Just short of the timeout: read again no sooner than kWatchdogRecheck.
  effects.calls.clear();
  effects.silent = absl::Milliseconds(199) + absl::Microseconds(900);
  machine.Handle(Of(Event::kWatchdogDue));
  EXPECT_EQ(effects.calls, std::vector<std::string>{"set watchdog +2ms"});
  // Silent for the whole timeout: SIGABRT, SIGKILL after the grace.
  effects.calls.clear();
  effects.silent = absl::Milliseconds(201);
  machine.Handle(Of(Event::kWatchdogDue));
  EXPECT_EQ(effects.calls, (std::vector<std::string>{"signal 6", "set kill +1s"}));
  EXPECT_EQ(machine.record().executor.error, "watchdog: no heartbeat for 200ms");
  EXPECT_EQ(machine.state(), State::kRunning);
  effects.calls.clear();
  machine.Handle(Of(Event::kWatchdogDue));  // once is enough
  EXPECT_TRUE(effects.calls.empty());
  machine.Handle(Of(Event::kKillDue));
  EXPECT_EQ(effects.calls, std::vector<std::string>{"signal 9"});
  effects.calls.clear();
  Input aborted{Event::kExecutorExited};
  aborted.exit.signaled = true;
  aborted.exit.code = SIGKILL;
  aborted.entry_ran = true;
  machine.Handle(aborted);
  EXPECT_EQ(machine.record().history.back().error, "watchdog: no heartbeat for 200ms");
  // Its timers go with it (the grace's SIGKILL must not hit the next one).
  EXPECT_EQ(effects.calls, (std::vector<std::string>{"cancel ready", "cancel watchdog",
                                                     "cancel kill", "clear", "set restart +1s"}));
  EXPECT_EQ(machine.state(), State::kWaitingToRestart);
}

TEST(GuardianMachineTest, AStoppingExecutorIsNotWatched) {
  FakeEffects effects;
  Machine machine(Supervised(), &effects);
  effects.machine = &machine;
  machine.Start();
  machine.Handle(Of(Event::kEntryRunning));
  machine.Handle(Of(Event::kQuit));
  effects.calls.clear();
  effects.silent = absl::Seconds(5);
  machine.Handle(Of(Event::kWatchdogDue));
  machine.Handle(Of(Event::kReadyDue));
  EXPECT_TRUE(effects.calls.empty());
}

}  // namespace
}  // namespace appkit::guardian
