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
  static const char* Name(Timer timer) { return timer == Timer::kRestart ? "restart" : "kill"; }

  WorkerMachine* machine = nullptr;
  absl::Time now = T0();
  pid_t next_pid = 100;
  std::string spawn_error;
  std::vector<std::string> calls;
};

WorkerMachine::Config Config(std::optional<absl::Duration> restart = absl::Seconds(2)) {
  return WorkerMachine::Config{
      7, "w7", "demo:worker", restart, absl::Seconds(10), absl::Minutes(1)};
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
      {S::kStarting, E::kKillDue, S::kStarting, {}},
      {S::kStarting, E::kCheckDue, S::kStarting, {}},
      {S::kStarting, E::kPong, S::kStarting, {}},
      {S::kStarting, E::kStart, S::kStarting, {}},
      {S::kStarting, E::kRestart, S::kStopping, {"quit 7", "set 7 kill +10s"}},
      {S::kRunning, E::kSpawned, S::kRunning, {}},
      {S::kRunning, E::kSpawnFailed, S::kRunning, {}},
      {S::kRunning, E::kEntryRunning, S::kRunning, {}},
      {S::kRunning, E::kExited, S::kWaitingToRestart, {"set 7 restart +2s"}},
      {S::kRunning, E::kStop, S::kStopping, {"quit 7", "set 7 kill +10s"}},
      {S::kRunning, E::kRestartDue, S::kRunning, {}},
      {S::kRunning, E::kKillDue, S::kRunning, {}},
      {S::kRunning, E::kCheckDue, S::kRunning, {"ping 7", "pidfile 7"}},
      {S::kRunning, E::kPong, S::kRunning, {}},
      {S::kRunning, E::kStart, S::kRunning, {}},
      {S::kRunning, E::kRestart, S::kStopping, {"quit 7", "set 7 kill +10s"}},
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
      {S::kExited, E::kSpawned, S::kExited, {}},
      {S::kExited, E::kSpawnFailed, S::kExited, {}},
      {S::kExited, E::kEntryRunning, S::kExited, {}},
      {S::kExited, E::kExited, S::kExited, {}},
      {S::kExited, E::kStop, S::kExited, {}},
      {S::kExited, E::kRestartDue, S::kExited, {}},
      {S::kExited, E::kKillDue, S::kExited, {}},
      {S::kExited, E::kCheckDue, S::kExited, {}},
      {S::kExited, E::kPong, S::kExited, {}},
      {S::kExited, E::kStart, S::kStarting, {"spawn 7"}},
      {S::kExited, E::kRestart, S::kStarting, {"spawn 7"}},
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
    WorkerMachine machine(Config(), &effects);
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

TEST(WorkerMachineTest, OnlyAnExitedWorkerIsFinished) {
  for (WorkerState state :
       {WorkerState::kStarting, WorkerState::kRunning, WorkerState::kWaitingToRestart,
        WorkerState::kStopping, WorkerState::kExited}) {
    FakeEffects effects;
    WorkerMachine machine(Config(), &effects);
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

}  // namespace
}  // namespace appkit::controller
