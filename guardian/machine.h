// The guardian's state machine, as a table of small actions indexed
// [state][event], in the manner of s6-supervise. It is pure: it owns no
// process, fd, timer or clock; it asks for those through Effects, so each
// cell of the table runs in a unit test (machine_test.cc) and the guardian
// (guardian.cc) only turns the world's events into Inputs.
//
// The table (docs/architecture.md has the why of each cell):
//
// clang-format off
//   state \ event     | Spawned  | SpawnFailed | EntryRunning | ExecutorExited | Cleared | Quit         | RestartDue | KillDue  | Restart         | Ready       | ReadyDue | WatchdogDue
//   ------------------+----------+-------------+--------------+----------------+---------+--------------+------------+----------+-----------------+-------------+----------+------------
//   CLEANING_UP       | -        | -           | -            | -              | Cleaned | QuitCleaning | -          | -        | RestartCleaning | -           | -        | -
//   STARTING          | Launched | Failed      | Running      | Ended          | -       | BeginStop    | -          | KillHung | BeginRestart    | BecomeReady | NotReady | Watch
//   RUNNING           | -        | -           | -            | Ended          | -       | BeginStop    | -          | KillHung | BeginRestart    | -           | -        | Watch
//   WAITING_TO_RESTART| -        | -           | -            | -              | -       | QuitWaiting  | Spawn      | -        | RestartNow      | -           | -        | -
//   STOPPING          | Late     | Stopped     | -            | Stopped        | -       | QuitStopping | -          | Kill     | -               | -           | -        | -
//   EXITED            | -        | -           | -            | -              | -       | -            | -          | -        | -               | -           | -        | -
//   FATAL             | -        | -           | -            | -              | -       | QuitCleaning | -          | -        | RestartNow      | -           | -        | -
// clang-format on
//
//   Start:        (the first state) ask for the daemon's leftovers to be
//                 cleared (a stale cgroup of our pid) -> CLEANING_UP
//   Cleaned:      the first executor is asked for at once (as in Spawn,
//                 not counted as a restart) -> STARTING; after a failed
//                 run, the restart timer is armed at restart_at (at once
//                 if the clear outlasted it) -> WAITING_TO_RESTART
//   QuitCleaning: -> EXITED (no executor runs)
//   Spawn:        a restart (restart_count + 1): ask for an executor (the
//                 answer comes as Spawned or SpawnFailed) -> STARTING
//   Launched:     record the new run; arm the ready timer (ready_timeout)
//                 and the watchdog (watchdog_timeout) when set
//   Late:         an executor asked for before the quit: record it and send
//                 it SIGTERM (SIGKILL if the kill time has passed)
//   Failed:       like a run that failed at once, though nothing ran (no
//                 leftovers): the restart policy decides (as in Ended) ->
//                 WAITING_TO_RESTART with the restart timer, FATAL or EXITED
//   Running:      without a ready_timeout: ready -> RUNNING; with one, the
//                 entry runs and STARTING lasts until it is ready
//   BecomeReady:  NotifyReady came (with a ready_timeout): cancel the ready
//                 timer, ready -> RUNNING
//   NotReady:     the ready timer fired: the run's error is "not ready
//                 within T"; SIGKILL to the executor's group (its exit,
//                 Ended, counts it as a failed run)
//   Watch:        the watchdog timer fired: silent for watchdog_timeout
//                 (Effects::SinceLastHeartbeat) -> the run's error is
//                 "watchdog: no heartbeat for T", SIGABRT to the group (a
//                 core dump where enabled), kill timer at kHungKillGrace;
//                 else the timer again at the last beat + watchdog_timeout
//   KillHung:     SIGKILL to the group of a hung executor after its SIGABRT
//   Ended:        the restart policy (common/process/restart_policy.h)
//                 decides: end (exit 0, no restart_interval, an exit code
//                 in no_restart_exit_codes) -> EXITED; restart ->
//                 CLEANING_UP, restart_at = exit + the policy's delay (the
//                 next executor never starts before what this one left is
//                 gone); the crash-loop limit -> CLEANING_UP, then FATAL
//   BeginStop:    SIGTERM to the executor's group, kill timer at
//                 stop_timeout (at least the pool's stop budget, see
//                 SetStopBudget) -> STOPPING
//   BeginRestart: (Restart) the same, but the stop ends in a restart
//   QuitWaiting:  cancel the restart timer -> EXITED
//   QuitStopping: a stop for a restart becomes a stop for good
//   Stopped:      cancel the kill timer -> EXITED; after BeginRestart: the
//                 policy's count starts over -> CLEANING_UP, then a start
//                 at once
//   Kill:         SIGKILL to the executor's group (the exit comes later;
//                 its run's error is "stop timeout")
//   RestartNow:   (Restart in FATAL or WAITING_TO_RESTART) the policy's
//                 count starts over, the restart timer is cancelled, an
//                 executor is asked for at once -> STARTING
//   RestartCleaning: a restart or FATAL under way is made a start at once
//                 (once the leftovers are gone); the first start: nothing
//   -:            nothing (the event cannot matter in that state)
//
// On EXITED the machine calls Finished: the guardian clears the daemon's
// leftovers one last time and exits.
//
// Not thread-safe: one thread (the guardian's loop) drives it.
#ifndef APPKIT_GUARDIAN_MACHINE_H_
#define APPKIT_GUARDIAN_MACHINE_H_

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "common/process/restart_policy.h"
#include "common/process/spawn.h"
#include "common/runtime/supervision.h"

namespace appkit::guardian {

enum class State : uint8_t {
  kCleaningUp,
  kStarting,
  kRunning,
  kWaitingToRestart,
  kStopping,
  kExited,
  kFatal,  // the crash-loop limit: nothing runs until Restart
};
inline constexpr int kStateCount = 7;

enum class Event : uint8_t {
  kSpawned,         // the executor asked for runs (pid)
  kSpawnFailed,     // the executor could not be started (detail: why)
  kEntryRunning,    // the executor loaded the module and calls the entry
  kExecutorExited,  // reaped (exit, entry_ran)
  kCleared,         // what the daemon's processes left is gone
  kQuit,            // SIGTERM, SIGINT or RequestQuit (detail: who asked)
  kRestartDue,      // the restart timer fired
  kKillDue,         // the kill timer fired (stop_timeout after SIGTERM, or the
                    // grace after a hung executor's SIGABRT)
  kRestart,         // Guardian.Restart: restart the executor gracefully, or now
  kReady,           // the entry called NotifyReady()
  kReadyDue,        // the ready timer fired (ready_timeout after the launch)
  kWatchdogDue,     // the watchdog timer fired
};
inline constexpr int kEventCount = 12;

const char* StateName(State state);  // "CLEANING_UP", "STARTING", ...
const char* EventName(Event event);

struct Input {
  Event event;
  pid_t pid = 0;           // kSpawned
  ProcessExit exit;        // kExecutorExited
  bool entry_ran = false;  // kExecutorExited: the entry was called
  std::string detail;      // kSpawnFailed: the error; kQuit: who asked
  std::string error;       // kExecutorExited: the error the entry returned, if it said one
};

// What the machine asks of the world.
class Effects {
 public:
  enum class Timer { kRestart, kKill, kReady, kWatchdog };
  virtual ~Effects() = default;
  virtual absl::Time Now() = 0;
  // Starts an executor; the answer comes back as kSpawned or kSpawnFailed
  // (possibly from within this call).
  virtual void SpawnExecutor() = 0;
  // Signals the current executor's process group.
  virtual void SignalExecutor(int signal) = 0;
  // Kills what the daemon's processes left (the executor's group is
  // gone); the answer comes back as kCleared (possibly from within this
  // call).
  virtual void ClearLeftovers() = 0;
  virtual void SetTimer(Timer timer, absl::Time at) = 0;
  virtual void CancelTimer(Timer timer) = 0;
  // How long the current executor's entry has been silent (the watchdog's
  // heartbeat slot; negative while it sleeps as asked).
  virtual absl::Duration SinceLastHeartbeat() = 0;
  // EXITED was reached: the guardian winds down.
  virtual void Finished() = 0;
};

// One executor run.
struct Run {
  pid_t pid = 0;
  absl::Time start_time = absl::InfinitePast();
  std::optional<absl::Time> end_time;
  ProcessExit exit;
  std::string description;  // "running", "exited with code 1", ...
  std::string error;        // why it failed: the entry's error, "stop timeout", "not ready
                            // within 2s", "watchdog: ..."
};

// What the machine knows; the status RPC is a view of it.
struct Record {
  State state = State::kCleaningUp;
  Run executor;  // the current run, or the last one
  bool executor_running = false;
  int restart_count = 0;
  std::deque<Run> history;               // ended runs, oldest first (the newest 20)
  std::optional<absl::Time> restart_at;  // set from a failed run to the spawn
  std::optional<absl::Time> kill_at;
  std::string quit_reason;
  int consecutive_failures = 0;    // the restart policy's count (0 after a stable run)
  bool fatal = false;              // the crash-loop limit was reached (FATAL once cleared)
  bool restart_requested = false;  // STOPPING for a Restart, not for good
  bool kill_sent = false;          // SIGKILL after stop_timeout, for the current run
  bool ready = false;              // the current executor's entry runs and is ready
};

class Machine {
 public:
  struct Config {
    std::string entry;  // the daemon entry, for messages
    std::optional<absl::Duration> restart_interval;
    std::optional<absl::Duration> stop_timeout;
    RestartPolicy restart_policy;  // the defaults: a fixed restart_interval, no limit
    std::optional<absl::Duration> ready_timeout;     // SPEC §8; none: ready when it runs
    std::optional<absl::Duration> watchdog_timeout;  // none: no watchdog
  };
  // From a hung executor's SIGABRT to its SIGKILL: time for a core dump.
  static constexpr absl::Duration kHungKillGrace = absl::Seconds(1);
  // The watchdog's timer never re-fires sooner than this after a read.
  static constexpr absl::Duration kWatchdogRecheck = absl::Milliseconds(2);
  static constexpr size_t kHistoryLength = 20;

  Machine(Config config, Effects* effects);

  // Clears what a dead guardian of our pid may have left, then starts the
  // first executor.
  void Start();
  void Handle(const Input& input);

  // Data, not an event: a pool in the current executor stops within
  // `budget` (its stop_timeout and wind-down). A stop's kill timer waits
  // at least that long (SPEC §8: the guardian's budget covers the
  // pool's); reset with each executor.
  void SetStopBudget(absl::Duration budget) { stop_budget_ = budget; }

  const Record& record() const { return record_; }
  State state() const { return record_.state; }

 private:
  using Action = void (Machine::*)(const Input&);
  static const Action kTable[kStateCount][kEventCount];

  void Ignore(const Input&) {}
  void Cleaned(const Input& input);
  void QuitCleaning(const Input& input);
  void Spawn(const Input&);
  void Launched(const Input& input);
  void Late(const Input& input);
  void Failed(const Input& input);
  void Running(const Input& input);
  void Ended(const Input& input);
  void BeginStop(const Input& input);
  void QuitWaiting(const Input& input);
  void Stopped(const Input& input);
  void Kill(const Input& input);
  void BeginRestart(const Input& input);
  void QuitStopping(const Input& input);
  void RestartNow(const Input& input);
  void RestartCleaning(const Input& input);

  void BecomeReady(const Input& input);
  void NotReady(const Input& input);
  void Watch(const Input& input);
  void KillHung(const Input& input);

  void AskForExecutor();
  // A Restart: the policy's count and crash-loop window start over.
  void StartPolicyOver();
  void ArmWatchdog();
  void EndRun(const ProcessExit& exit, const std::string& description, const std::string& error);
  void SignalForStop();
  // After a failed run (or a spawn that failed): what the policy says.
  // `how`: for the quit reason; `logged`: for the log line. `ran`: a run
  // ended (its leftovers are cleared first); else a spawn failed.
  void AfterFailure(absl::Time start, absl::Time end, int exitcode, const std::string& how,
                    const std::string& logged, bool ran);
  void Exit(const std::string& reason);

  const Config config_;
  Effects* const effects_;
  Record record_;
  internal::RestartSchedule schedule_;
  absl::Duration stop_budget_ = absl::ZeroDuration();
};

}  // namespace appkit::guardian

#endif  // APPKIT_GUARDIAN_MACHINE_H_
