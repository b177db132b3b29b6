// controller/worker_machine: every (state, event) cell of the table with a
// fake clock and fake processes, then the details of the cells that act.
#include "controller/worker_machine.h"

#include <signal.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace appkit::controller {
namespace {

absl::Time T0() { return absl::FromUnixSeconds(1'800'000'000); }

class FakeEffects : public WorkerEffects {
 public:
  absl::Time Now() override { return now; }
  // Answers at once, as the worker fork server would a moment later.
  void SpawnWorker(int index) override {
    calls.push_back(absl::StrCat("spawn ", index));
    WorkerInput answer{spawn_error.empty() ? WorkerEvent::kSpawned : WorkerEvent::kSpawnFailed};
    answer.pid = next_pid++;
    answer.detail = spawn_error;
    machine->Handle(answer);
  }
  void AskToQuit(int index) override { calls.push_back(absl::StrCat("quit ", index)); }
  void SignalWorker(int index, int signal) override {
    calls.push_back(absl::StrCat("signal ", index, " ", signal));
  }
  void SetTimer(int index, Timer timer, absl::Time at) override {
    calls.push_back(
        absl::StrCat("set ", index, " ", Name(timer), " +", absl::FormatDuration(at - now)));
  }
  void CancelTimer(int index, Timer timer) override {
    calls.push_back(absl::StrCat("cancel ", index, " ", Name(timer)));
  }
  void Ping(int index) override { calls.push_back(absl::StrCat("ping ", index)); }
  void CheckPidFile(int index) override { calls.push_back(absl::StrCat("pidfile ", index)); }
  absl::Duration SinceLastHeartbeat(int) override { return silent; }
  static const char* Name(Timer timer) {
    static const char* const kNames[] = {"restart", "kill", "ready", "watchdog"};
    return kNames[static_cast<int>(timer)];
  }

  WorkerMachine* machine = nullptr;
  absl::Time now = T0();
  pid_t next_pid = 100;
  std::string spawn_error;
  absl::Duration silent = absl::ZeroDuration();
  std::vector<std::string> calls;
};

WorkerMachine::Config Config(std::optional<absl::Duration> restart = absl::Seconds(2)) {
  return WorkerMachine::Config{
      7, "w7", "demo:worker", restart, absl::Seconds(10), absl::Minutes(1)};
}

// At most one restart within a minute: the second failure is FATAL.
const RestartPolicy* OneRestart() {
  static const RestartPolicy* policy = [] {
    auto* p = new RestartPolicy();
    p->max_restarts = 1;
    return p;
  }();
  return policy;
}

WorkerMachine::Config WithLimit() {
  WorkerMachine::Config config = Config();
  config.restart_policy = OneRestart();
  return config;
}

WorkerInput Exited(int code) {
  WorkerInput input{WorkerEvent::kExited};
  input.exit.code = code;
  return input;
}

WorkerInput Of(WorkerEvent event) {
  if (event == WorkerEvent::kExited) return Exited(1);
  WorkerInput input{event};
  input.pid = 200;
  input.detail = "RequestQuit";
  return input;
}

void BringTo(WorkerMachine& machine, FakeEffects& effects, WorkerState state) {
  machine.Start();
  if (state != WorkerState::kStarting) machine.Handle(Of(WorkerEvent::kEntryRunning));
  if (state == WorkerState::kWaitingToRestart) machine.Handle(Exited(1));
  if (state == WorkerState::kStopping) machine.Handle(Of(WorkerEvent::kStop));
  if (state == WorkerState::kExited) {
    machine.Handle(Of(WorkerEvent::kStop));
    machine.Handle(Exited(0));
  }
  if (state == WorkerState::kFatal) {  // with WithLimit()
    machine.Handle(Exited(1));
    machine.Handle(Of(WorkerEvent::kRestartDue));
    machine.Handle(Exited(1));
  }
  ASSERT_EQ(machine.state(), state);
  effects.calls.clear();
}

struct Cell {
  WorkerState state;
  WorkerEvent event;
  WorkerState next;
  std::vector<std::string> calls;
};

const std::vector<Cell>& Cells() {
  using S = WorkerState;
  using E = WorkerEvent;
  static const auto* cells = new std::vector<Cell>{
      {S::kStarting, E::kSpawned, S::kStarting, {}},
      {S::kStarting, E::kSpawnFailed, S::kWaitingToRestart, {"set 7 restart +2s"}},
      {S::kStarting, E::kEntryRunning, S::kRunning, {}},
      {S::kStarting, E::kExited, S::kWaitingToRestart, {"set 7 restart +2s"}},
      {S::kStarting, E::kStop, S::kStopping, {"quit 7", "set 7 kill +10s"}},
      {S::kStarting, E::kRestartDue, S::kStarting, {}},
      {S::kStarting, E::kKillDue, S::kStarting, {"signal 7 9"}},  // a hung one's grace ended
      {S::kStarting, E::kCheckDue, S::kStarting, {}},
      {S::kStarting, E::kPong, S::kStarting, {}},
      {S::kStarting, E::kStart, S::kStarting, {}},
      {S::kStarting, E::kRestart, S::kStopping, {"quit 7", "set 7 kill +10s"}},
      {S::kStarting, E::kReady, S::kStarting, {}},
      {S::kStarting, E::kReadyDue, S::kStarting, {}},
      {S::kStarting, E::kWatchdogDue, S::kStarting, {}},
      {S::kRunning, E::kSpawned, S::kRunning, {}},
      {S::kRunning, E::kSpawnFailed, S::kRunning, {}},
      {S::kRunning, E::kEntryRunning, S::kRunning, {}},
      {S::kRunning, E::kExited, S::kWaitingToRestart, {"set 7 restart +2s"}},
      {S::kRunning, E::kStop, S::kStopping, {"quit 7", "set 7 kill +10s"}},
      {S::kRunning, E::kRestartDue, S::kRunning, {}},
      {S::kRunning, E::kKillDue, S::kRunning, {"signal 7 9"}},
      {S::kRunning, E::kCheckDue, S::kRunning, {"ping 7", "pidfile 7"}},
      {S::kRunning, E::kPong, S::kRunning, {}},
      {S::kRunning, E::kStart, S::kRunning, {}},
      {S::kRunning, E::kRestart, S::kStopping, {"quit 7", "set 7 kill +10s"}},
      {S::kRunning, E::kReady, S::kRunning, {}},
      {S::kRunning, E::kReadyDue, S::kRunning, {}},
      {S::kRunning, E::kWatchdogDue, S::kRunning, {}},
      {S::kWaitingToRestart, E::kSpawned, S::kWaitingToRestart, {}},
      {S::kWaitingToRestart, E::kSpawnFailed, S::kWaitingToRestart, {}},
      {S::kWaitingToRestart, E::kEntryRunning, S::kWaitingToRestart, {}},
      {S::kWaitingToRestart, E::kExited, S::kWaitingToRestart, {}},
      {S::kWaitingToRestart, E::kStop, S::kExited, {"cancel 7 restart"}},
      {S::kWaitingToRestart, E::kRestartDue, S::kStarting, {"spawn 7"}},
      {S::kWaitingToRestart, E::kKillDue, S::kWaitingToRestart, {}},
      {S::kWaitingToRestart, E::kCheckDue, S::kWaitingToRestart, {}},
      {S::kWaitingToRestart, E::kPong, S::kWaitingToRestart, {}},
      {S::kWaitingToRestart, E::kStart, S::kStarting, {"cancel 7 restart", "spawn 7"}},
      {S::kWaitingToRestart, E::kRestart, S::kStarting, {"cancel 7 restart", "spawn 7"}},
      {S::kWaitingToRestart, E::kReady, S::kWaitingToRestart, {}},
      {S::kWaitingToRestart, E::kReadyDue, S::kWaitingToRestart, {}},
      {S::kWaitingToRestart, E::kWatchdogDue, S::kWaitingToRestart, {}},
      {S::kStopping, E::kSpawned, S::kStopping, {}},
      {S::kStopping, E::kSpawnFailed, S::kExited, {"cancel 7 kill"}},
      {S::kStopping, E::kEntryRunning, S::kStopping, {}},
      {S::kStopping, E::kExited, S::kExited, {"cancel 7 kill"}},
      {S::kStopping, E::kStop, S::kStopping, {}},
      {S::kStopping, E::kRestartDue, S::kStopping, {}},
      {S::kStopping, E::kKillDue, S::kStopping, {"signal 7 9"}},
      {S::kStopping, E::kCheckDue, S::kStopping, {}},
      {S::kStopping, E::kPong, S::kStopping, {}},
      {S::kStopping, E::kStart, S::kStopping, {}},
      {S::kStopping, E::kRestart, S::kStopping, {}},
      {S::kStopping, E::kReady, S::kStopping, {}},
      {S::kStopping, E::kReadyDue, S::kStopping, {}},
      {S::kStopping, E::kWatchdogDue, S::kStopping, {}},
      {S::kExited, E::kSpawned, S::kExited, {}},
      {S::kExited, E::kSpawnFailed, S::kExited, {}},
      {S::kExited, E::kEntryRunning, S::kExited, {}},
      {S::kExited, E::kExited, S::kExited, {}},
      {S::kExited, E::kStop, S::kExited, {}},
      {S::kExited, E::kRestartDue, S::kExited, {}},
      {S::kExited, E::kKillDue, S::kExited, {}},
      {S::kExited, E::kCheckDue, S::kExited, {}},
      {S::kExited, E::kPong, S::kExited, {}},
      {S::kExited, E::kStart, S::kStarting, {"cancel 7 restart", "spawn 7"}},
      {S::kExited, E::kRestart, S::kStarting, {"cancel 7 restart", "spawn 7"}},
      {S::kExited, E::kReady, S::kExited, {}},
      {S::kExited, E::kReadyDue, S::kExited, {}},
      {S::kExited, E::kWatchdogDue, S::kExited, {}},
      {S::kFatal, E::kSpawned, S::kFatal, {}},
      {S::kFatal, E::kSpawnFailed, S::kFatal, {}},
      {S::kFatal, E::kEntryRunning, S::kFatal, {}},
      {S::kFatal, E::kExited, S::kFatal, {}},
      {S::kFatal, E::kStop, S::kExited, {"cancel 7 restart"}},
      {S::kFatal, E::kRestartDue, S::kFatal, {}},
      {S::kFatal, E::kKillDue, S::kFatal, {}},
      {S::kFatal, E::kCheckDue, S::kFatal, {}},
      {S::kFatal, E::kPong, S::kFatal, {}},
      {S::kFatal, E::kStart, S::kStarting, {"cancel 7 restart", "spawn 7"}},
      {S::kFatal, E::kRestart, S::kStarting, {"cancel 7 restart", "spawn 7"}},
      {S::kFatal, E::kReady, S::kFatal, {}},
      {S::kFatal, E::kReadyDue, S::kFatal, {}},
      {S::kFatal, E::kWatchdogDue, S::kFatal, {}},
  };
  return *cells;
}

TEST(WorkerMachineTest, TheTestsCoverEveryCell) {
  EXPECT_EQ(Cells().size(), static_cast<size_t>(kWorkerStateCount * kWorkerEventCount));
}

TEST(WorkerMachineTest, EveryCellOfTheTable) {
  for (const Cell& cell : Cells()) {
    SCOPED_TRACE(absl::StrCat(WorkerStateName(cell.state), " x ", WorkerEventName(cell.event)));
    FakeEffects effects;
    WorkerMachine machine(cell.state == WorkerState::kFatal ? WithLimit() : Config(), &effects);
    effects.machine = &machine;
    BringTo(machine, effects, cell.state);
    machine.Handle(Of(cell.event));
    EXPECT_EQ(machine.state(), cell.next);
    EXPECT_EQ(effects.calls, cell.calls);
  }
}

TEST(WorkerMachineTest, ARunIsRecordedAndTheRestartCounted) {
  FakeEffects effects;
  WorkerMachine machine(Config(), &effects);
  effects.machine = &machine;
  machine.Start();
  EXPECT_EQ(machine.record().pid, 100);
  effects.now = T0() + absl::Seconds(3);
  WorkerInput killed = Exited(9);
  killed.exit.signaled = true;
  machine.Handle(killed);
  EXPECT_FALSE(machine.has_process());
  ASSERT_EQ(machine.record().history.size(), 1u);
  EXPECT_EQ(machine.record().history[0].pid, 100);
  EXPECT_EQ(machine.record().history[0].exit.exitcode(), -9);
  EXPECT_EQ(machine.record().history[0].description, "killed by signal 9 (SIGKILL)");
  EXPECT_EQ(*machine.record().start_after, T0() + absl::Seconds(5));
  machine.Handle(Of(WorkerEvent::kRestartDue));
  EXPECT_EQ(machine.record().restart_count, 1);
  EXPECT_EQ(machine.record().pid, 101);
  EXPECT_FALSE(machine.record().start_after.has_value());
}

TEST(WorkerMachineTest, WithoutRestartIntervalAnExitIsFinal) {
  FakeEffects effects;
  WorkerMachine machine(Config(std::nullopt), &effects);
  effects.machine = &machine;
  machine.Start();
  machine.Handle(Exited(1));
  EXPECT_EQ(machine.state(), WorkerState::kExited);
  EXPECT_TRUE(effects.calls.size() == 1);  // the spawn alone
}

TEST(WorkerMachineTest, AStoppedWorkerIsNeverRestarted) {
  FakeEffects effects;
  WorkerMachine machine(Config(), &effects);
  effects.machine = &machine;
  BringTo(machine, effects, WorkerState::kStopping);
  EXPECT_TRUE(machine.record().stopped);
  machine.Handle(Exited(0));
  EXPECT_EQ(machine.state(), WorkerState::kExited);
  EXPECT_EQ(machine.record().history.back().description, "exited with code 0");
}

TEST(WorkerMachineTest, ASpawnThatFailsIsRetriedLikeACrash) {
  FakeEffects effects;
  effects.spawn_error = "pid file held by process 12";
  WorkerMachine machine(Config(), &effects);
  effects.machine = &machine;
  machine.Start();
  EXPECT_EQ(machine.state(), WorkerState::kWaitingToRestart);
  EXPECT_TRUE(machine.record().history.empty());
}

TEST(WorkerMachineTest, AProcessAskedForBeforeTheStopIsKilledOnceTheKillTimeHasPassed) {
  FakeEffects effects;
  WorkerMachine machine(Config(), &effects);
  effects.machine = &machine;
  BringTo(machine, effects, WorkerState::kStopping);
  effects.now = T0() + absl::Seconds(11);
  machine.Handle(Of(WorkerEvent::kSpawned));
  EXPECT_EQ(machine.record().pid, 200);
  EXPECT_EQ(effects.calls, std::vector<std::string>{"signal 7 9"});
}

TEST(WorkerMachineTest, AWorkerThatMissesAWholeCheckIntervalIsUnresponsiveUntilItAnswers) {
  FakeEffects effects;
  WorkerMachine machine(Config(), &effects);
  effects.machine = &machine;
  BringTo(machine, effects, WorkerState::kRunning);
  machine.Handle(Of(WorkerEvent::kCheckDue));
  EXPECT_FALSE(machine.unresponsive());  // one ping out: not late yet
  machine.Handle(Of(WorkerEvent::kCheckDue));
  EXPECT_TRUE(machine.unresponsive());
  EXPECT_EQ(effects.calls,
            (std::vector<std::string>{"ping 7", "pidfile 7", "ping 7", "pidfile 7"}));
  machine.Handle(Of(WorkerEvent::kPong));
  EXPECT_FALSE(machine.unresponsive());
  machine.Handle(Of(WorkerEvent::kCheckDue));
  EXPECT_FALSE(machine.unresponsive());
}

TEST(WorkerMachineTest, ANewProcessStartsWithNoPingOutstanding) {
  FakeEffects effects;
  WorkerMachine machine(Config(), &effects);
  effects.machine = &machine;
  BringTo(machine, effects, WorkerState::kRunning);
  machine.Handle(Of(WorkerEvent::kCheckDue));
  machine.Handle(Of(WorkerEvent::kCheckDue));
  ASSERT_TRUE(machine.unresponsive());
  machine.Handle(Exited(9));
  machine.Handle(Of(WorkerEvent::kRestartDue));
  machine.Handle(Of(WorkerEvent::kEntryRunning));
  EXPECT_FALSE(machine.unresponsive());
  machine.Handle(Of(WorkerEvent::kCheckDue));
  EXPECT_FALSE(machine.unresponsive());
}

// A command worker (SPEC §10) has no channel: never pinged, never "hung".
TEST(WorkerMachineTest, ACommandWorkerIsNotPinged) {
  FakeEffects effects;
  WorkerMachine::Config config = Config();
  config.pingable = false;
  WorkerMachine machine(config, &effects);
  effects.machine = &machine;
  BringTo(machine, effects, WorkerState::kRunning);
  machine.Handle(Of(WorkerEvent::kCheckDue));
  machine.Handle(Of(WorkerEvent::kCheckDue));
  EXPECT_FALSE(machine.unresponsive());
  EXPECT_EQ(effects.calls, (std::vector<std::string>{"pidfile 7", "pidfile 7"}));
}

TEST(WorkerMachineTest, OnlyAnExitedWorkerIsFinished) {
  for (WorkerState state :
       {WorkerState::kStarting, WorkerState::kRunning, WorkerState::kWaitingToRestart,
        WorkerState::kStopping, WorkerState::kExited, WorkerState::kFatal}) {
    FakeEffects effects;
    WorkerMachine machine(WithLimit(), &effects);
    effects.machine = &machine;
    BringTo(machine, effects, state);
    EXPECT_EQ(machine.finished(), state == WorkerState::kExited) << WorkerStateName(state);
  }
}

TEST(WorkerMachineTest, StartOfAWorkerThatRunsIsRefusedAndSaysWhy) {
  FakeEffects effects;
  WorkerMachine machine(Config(), &effects);
  effects.machine = &machine;
  BringTo(machine, effects, WorkerState::kRunning);
  machine.Handle(Of(WorkerEvent::kStart));
  EXPECT_EQ(machine.refusal(), "worker 'w7' is running (pid 100)");
  machine.Handle(Of(WorkerEvent::kRestart));  // taken: the refusal is cleared
  EXPECT_EQ(machine.refusal(), "");
}

TEST(WorkerMachineTest, ARestartStartsANewProcessOnceTheOldOneIsGoneAndCountsIt) {
  FakeEffects effects;
  WorkerMachine machine(Config(), &effects);
  effects.machine = &machine;
  BringTo(machine, effects, WorkerState::kRunning);
  machine.Handle(Of(WorkerEvent::kRestart));
  EXPECT_TRUE(machine.start_pending());
  machine.Handle(Exited(0));
  EXPECT_EQ(machine.state(), WorkerState::kStarting);
  EXPECT_EQ(machine.record().pid, 101);
  EXPECT_EQ(machine.record().restart_count, 1);
  EXPECT_FALSE(machine.record().stopped);
  EXPECT_FALSE(machine.start_pending());
  ASSERT_EQ(machine.record().history.size(), 1u);
  EXPECT_EQ(machine.record().history[0].pid, 100);
  EXPECT_EQ(effects.calls,
            (std::vector<std::string>{"quit 7", "set 7 kill +10s", "cancel 7 kill", "spawn 7"}));
}

TEST(WorkerMachineTest, AStopWhileARestartStopsCancelsTheStart) {
  FakeEffects effects;
  WorkerMachine machine(Config(), &effects);
  effects.machine = &machine;
  BringTo(machine, effects, WorkerState::kRunning);
  machine.Handle(Of(WorkerEvent::kRestart));
  machine.Handle(Of(WorkerEvent::kStop));  // the pool quits meanwhile
  machine.Handle(Exited(0));
  EXPECT_EQ(machine.state(), WorkerState::kExited);
  EXPECT_TRUE(machine.finished());
}

TEST(WorkerMachineTest, AStartedWorkerIsRestartedAgainAfterACrash) {
  FakeEffects effects;
  WorkerMachine machine(Config(), &effects);
  effects.machine = &machine;
  BringTo(machine, effects, WorkerState::kExited);  // stopped by request
  machine.Handle(Of(WorkerEvent::kStart));
  EXPECT_EQ(machine.record().restart_count, 0);  // a start is not a restart
  machine.Handle(Of(WorkerEvent::kEntryRunning));
  machine.Handle(Exited(1));
  EXPECT_EQ(machine.state(), WorkerState::kWaitingToRestart);
}

TEST(WorkerMachineTest, AStartAskedWhileStoppingStartsOnceTheProcessIsGone) {
  FakeEffects effects;
  WorkerMachine machine(Config(), &effects);
  effects.machine = &machine;
  BringTo(machine, effects, WorkerState::kStopping);
  machine.Handle(Of(WorkerEvent::kStart));
  machine.Handle(Exited(0));
  EXPECT_EQ(machine.state(), WorkerState::kStarting);
  EXPECT_GT(machine.record().pid, 0);
}

// --- The pool's restart policy (SPEC §8) -----------------------------------

std::vector<absl::Duration> Delays(const RestartPolicy& policy, int failures, absl::Duration run) {
  FakeEffects effects;
  WorkerMachine::Config config = Config();
  config.restart_policy = &policy;
  WorkerMachine machine(config, &effects);
  effects.machine = &machine;
  machine.Start();
  std::vector<absl::Duration> delays;
  for (int i = 0; i < failures; ++i) {
    effects.now += run;
    machine.Handle(Exited(1));
    if (machine.state() != WorkerState::kWaitingToRestart) break;
    delays.push_back(*machine.record().start_after - effects.now);
    effects.now = *machine.record().start_after;
    machine.Handle(Of(WorkerEvent::kRestartDue));
  }
  return delays;
}

TEST(WorkerMachineTest, TheDefaultPolicyIsAFixedIntervalWithoutLimit) {
  const std::vector<absl::Duration> delays = Delays(RestartPolicy(), 30, absl::Milliseconds(1));
  ASSERT_EQ(delays.size(), 30u);
  for (absl::Duration delay : delays) EXPECT_EQ(delay, absl::Seconds(2));
}

TEST(WorkerMachineTest, BackoffGrowsUpToMaxDelayAndAStableRunResetsIt) {
  RestartPolicy policy;
  policy.backoff_multiplier = 3;
  policy.max_delay = absl::Seconds(10);
  policy.reset_after = absl::Seconds(30);
  EXPECT_EQ(Delays(policy, 4, absl::Milliseconds(1)),
            (std::vector<absl::Duration>{absl::Seconds(2), absl::Seconds(6), absl::Seconds(10),
                                         absl::Seconds(10)}));
  EXPECT_EQ(Delays(policy, 2, absl::Seconds(31)),
            (std::vector<absl::Duration>{absl::Seconds(2), absl::Seconds(2)}));
}

TEST(WorkerMachineTest, TheCrashLoopLimitIsFatalUntilAStart) {
  FakeEffects effects;
  WorkerMachine machine(WithLimit(), &effects);
  effects.machine = &machine;
  BringTo(machine, effects, WorkerState::kFatal);
  EXPECT_FALSE(machine.finished());  // the pool stays up
  EXPECT_FALSE(machine.record().start_after.has_value());
  EXPECT_EQ(machine.record().consecutive_failures, 2);
  machine.Handle(Of(WorkerEvent::kStart));
  EXPECT_EQ(machine.state(), WorkerState::kStarting);
  EXPECT_EQ(machine.record().consecutive_failures, 0);
  machine.Handle(Exited(1));  // the count started over: restarted
  EXPECT_EQ(machine.state(), WorkerState::kWaitingToRestart);
}

TEST(WorkerMachineTest, ANoRestartExitCodeEndsTheWorker) {
  RestartPolicy policy;
  policy.no_restart_exit_codes = {4};
  FakeEffects effects;
  WorkerMachine::Config config = Config();
  config.restart_policy = &policy;
  WorkerMachine machine(config, &effects);
  effects.machine = &machine;
  machine.Start();
  machine.Handle(Exited(4));
  EXPECT_EQ(machine.state(), WorkerState::kExited);
}

TEST(WorkerMachineTest, TheRunKeepsItsErrorAndAKillAfterStopTimeoutSaysSo) {
  FakeEffects effects;
  WorkerMachine machine(Config(), &effects);
  effects.machine = &machine;
  machine.Start();
  WorkerInput failed = Exited(1);
  failed.error = "cannot start: pid file /x.pid is held by running process 12";
  machine.Handle(failed);
  EXPECT_EQ(machine.record().history.back().error, failed.error);
  machine.Handle(Of(WorkerEvent::kRestartDue));
  machine.Handle(Of(WorkerEvent::kStop));
  machine.Handle(Of(WorkerEvent::kKillDue));
  WorkerInput killed = Exited(9);
  killed.exit.signaled = true;
  machine.Handle(killed);
  EXPECT_EQ(machine.record().history.back().error, "stop timeout");
}

// --- Readiness and the watchdog (SPEC §8) ---------------------------------

WorkerMachine::Config Supervised() {
  WorkerMachine::Config config = Config();
  config.ready_timeout = absl::Seconds(3);
  config.watchdog_timeout = absl::Milliseconds(200);
  return config;
}

TEST(WorkerMachineTest, WithAReadyTimeoutStartingLastsUntilNotifyReady) {
  FakeEffects effects;
  WorkerMachine machine(Supervised(), &effects);
  effects.machine = &machine;
  machine.Start();
  EXPECT_EQ(effects.calls,
            (std::vector<std::string>{"spawn 7", "set 7 ready +3s", "set 7 watchdog +200ms"}));
  machine.Handle(Of(WorkerEvent::kEntryRunning));
  EXPECT_EQ(machine.state(), WorkerState::kStarting);
  EXPECT_FALSE(machine.record().ready);
  effects.calls.clear();
  machine.Handle(Of(WorkerEvent::kReady));
  EXPECT_EQ(machine.state(), WorkerState::kRunning);
  EXPECT_TRUE(machine.record().ready);
  EXPECT_EQ(effects.calls, std::vector<std::string>{"cancel 7 ready"});
}

TEST(WorkerMachineTest, NotReadyInTimeIsKilledAndRestartedWithItsError) {
  FakeEffects effects;
  WorkerMachine machine(Supervised(), &effects);
  effects.machine = &machine;
  machine.Start();
  effects.calls.clear();
  machine.Handle(Of(WorkerEvent::kReadyDue));
  EXPECT_EQ(effects.calls, std::vector<std::string>{"signal 7 9"});
  WorkerInput killed{WorkerEvent::kExited};
  killed.exit.signaled = true;
  killed.exit.code = SIGKILL;
  machine.Handle(killed);
  EXPECT_EQ(machine.state(), WorkerState::kWaitingToRestart);
  ASSERT_EQ(machine.record().history.size(), 1u);
  EXPECT_EQ(machine.record().history.back().error, "not ready within 3s");
  EXPECT_EQ(machine.record().error, "");
}

TEST(WorkerMachineTest, TheWatchdogReplacesThePingAndAbortsASilentWorker) {
  FakeEffects effects;
  WorkerMachine machine(Supervised(), &effects);
  effects.machine = &machine;
  machine.Start();
  machine.Handle(Of(WorkerEvent::kEntryRunning));
  machine.Handle(Of(WorkerEvent::kReady));
  effects.calls.clear();
  machine.Handle(Of(WorkerEvent::kCheckDue));  // no ping: the heartbeats say it
  EXPECT_EQ(effects.calls, std::vector<std::string>{"pidfile 7"});
  effects.calls.clear();
  effects.silent = absl::Milliseconds(120);
  machine.Handle(Of(WorkerEvent::kWatchdogDue));
  EXPECT_EQ(effects.calls, std::vector<std::string>{"set 7 watchdog +80ms"});
  effects.calls.clear();
  effects.silent = absl::Milliseconds(200);
  machine.Handle(Of(WorkerEvent::kWatchdogDue));
  EXPECT_EQ(effects.calls, (std::vector<std::string>{"signal 7 6", "set 7 kill +1s"}));
  effects.calls.clear();
  machine.Handle(Of(WorkerEvent::kKillDue));
  EXPECT_EQ(effects.calls, std::vector<std::string>{"signal 7 9"});
  effects.calls.clear();
  WorkerInput killed{WorkerEvent::kExited};
  killed.exit.signaled = true;
  killed.exit.code = SIGKILL;
  machine.Handle(killed);
  EXPECT_EQ(machine.record().history.back().error, "watchdog: no heartbeat for 200ms");
  EXPECT_EQ(effects.calls, (std::vector<std::string>{"cancel 7 ready", "cancel 7 watchdog",
                                                     "cancel 7 kill", "set 7 restart +2s"}));
  EXPECT_EQ(machine.state(), WorkerState::kWaitingToRestart);
}

}  // namespace
}  // namespace appkit::controller
