// One worker's state machine in the controller, as a table of small
// actions indexed [state][event] (the model is s6-supervise). Pure:
// processes, the control channel and timers are reached through
// WorkerEffects, so every cell runs in a unit test
// (worker_machine_test.cc); the controller (controller.h) turns pidfds,
// channel bytes, timers and requests into WorkerInputs.
//
// clang-format off
//   state \ event   | Spawned  | SpawnFailed | EntryRunning | Exited  | Stop        | RestartDue | KillDue  | CheckDue | Pong     | Start      | Restart    | Ready       | ReadyDue | WatchdogDue
//   ----------------+----------+-------------+--------------+---------+-------------+------------+----------+----------+----------+------------+------------+-------------+----------+------------
//   STARTING        | Launched | Failed      | Running      | Ended   | BeginStop   | -          | KillHung | -        | -        | Refuse     | RestartRun | BecomeReady | NotReady | Watch
//   RUNNING         | -        | -           | -            | Ended   | BeginStop   | -          | KillHung | Check    | Answered | Refuse     | RestartRun | -           | -        | Watch
//   WAITING_RESTART | -        | -           | -            | -       | StopWaiting | Spawn      | -        | -        | -        | StartNow   | StartNow   | -           | -        | -
//   STOPPING        | Late     | Stopped     | -            | Stopped | NoRestart   | -          | Kill     | -        | -        | StartAfter | StartAfter | -           | -        | -
//   EXITED          | -        | -           | -            | -       | -           | -          | -        | -        | -        | StartNow   | StartNow   | -           | -        | -
//   FATAL           | -        | -           | -            | -       | StopWaiting | -          | -        | -        | -        | StartNow   | StartNow   | -           | -        | -
// clang-format on
//
//   Spawn:       ask for a worker process (the answer comes as Spawned or
//                SpawnFailed) -> STARTING
//   Launched:    record the new process; arm the ready timer
//                (ready_timeout) and the watchdog (watchdog_timeout) when set
//   Late:        a process asked for before the stop: record it (it got the
//                quit request on its channel already); SIGKILL if the kill
//                time has passed
//   Failed:      like Ended for a run that never began (nothing recorded)
//   Running:     the worker loaded its entry: without a ready_timeout,
//                ready -> RUNNING; with one it stays STARTING until ready
//   BecomeReady: NotifyReady (with a ready_timeout): ready -> RUNNING
//   NotReady:    the ready timer fired: error "not ready within T",
//                SIGKILL to its group (Ended counts the failed run)
//   Watch:       the watchdog timer fired: silent for watchdog_timeout ->
//                error "watchdog: no heartbeat for T", SIGABRT to its
//                group, kill timer at kHungKillGrace; else the timer again
//                at its last beat + watchdog_timeout
//   KillHung:    SIGKILL to the group of a hung worker after its SIGABRT
//   Ended:       record the run (with the error the worker said, unless
//                the pool set one); the pool's restart policy
//                (common/process/restart_policy.h) decides: ->
//                WAITING_TO_RESTART with the restart timer at its delay,
//                FATAL at the crash-loop limit, or EXITED without
//                restart_interval or for a no-restart exit code
//   BeginStop:   ask the worker to quit, kill timer at stop_timeout
//                -> STOPPING; the worker is not restarted any more
//   StopWaiting: cancel the restart timer -> EXITED
//   Stopped:     record the run, cancel the kill timer -> EXITED
//   Kill:        SIGKILL to the worker's process group (the run's error:
//                "stop timeout")
//   Check:       (each check_interval) have its pid file written again if
//                it was removed; without a watchdog_timeout, also ping the
//                worker on its channel, and log one that did not answer the
//                previous ping as hung (a worker with a watchdog is judged
//                by its entry's heartbeats instead: Watch; a command
//                worker, !pingable, has no channel to answer on)
//   Answered:    the ping's answer; a worker logged as hung is logged again
//                as answering
//   Refuse:      (Start of a worker that runs) nothing changes; refusal()
//                says why (the controller answers FAILED_PRECONDITION)
//   StartNow:    (leaving FATAL or EXITED, or a wait cut short) cancel a
//                restart timer, forget the stop, the restart policy's
//                count starts over -> Spawn now
//   RestartRun:  BeginStop, and Spawn once the process is gone (Stopped;
//                the policy's count starts over)
//   StartAfter:  Spawn once the stopping process is gone (Stopped)
//   NoRestart:   a Stop while stopping cancels a StartAfter/RestartRun
//   Stopped:     (with a start pending) record the run -> Spawn
// Start and Restart come from the Controller RPCs StartWorker and
// RestartWorker (controller.h).
//
// Not thread-safe: the controller's loop thread drives it.
#ifndef APPKIT_CONTROLLER_WORKER_MACHINE_H_
#define APPKIT_CONTROLLER_WORKER_MACHINE_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <memory>

#include "absl/time/time.h"
#include "common/process/restart_policy.h"
#include "common/process/spawn.h"
#include "common/runtime/supervision.h"

namespace appkit::controller {

enum class WorkerState : uint8_t {
  kStarting,
  kRunning,
  kWaitingToRestart,
  kStopping,
  kExited,
  kFatal,  // the crash-loop limit: not restarted until StartNow
};
inline constexpr int kWorkerStateCount = 6;

enum class WorkerEvent : uint8_t {
  kSpawned,       // the process asked for runs (pid)
  kSpawnFailed,   // no process could be started (detail: why)
  kEntryRunning,  // the worker loaded its entry ("ready" on its channel)
  kExited,        // reaped (exit)
  kStop,          // quit requested for this worker, or for the whole pool (detail: why)
  kRestartDue,    // its restart timer fired
  kKillDue,       // its kill timer fired (stop_timeout after the quit request)
  kCheckDue,      // the controller's check_interval timer fired
  kPong,          // the worker answered a ping on its channel
  kStart,         // StartWorker: start it now if it does not run, the policy's
                  // count reset (leaves FATAL) (detail: who asked)
  kRestart,       // RestartWorker: graceful restart, or start as kStart (detail: who asked)
  kReady,         // the worker's entry called NotifyReady()
  kReadyDue,      // its ready timer fired (ready_timeout after the launch)
  kWatchdogDue,   // its watchdog timer fired
};
inline constexpr int kWorkerEventCount = 14;

const char* WorkerStateName(WorkerState state);  // "STARTING", ... (the wire names)
const char* WorkerEventName(WorkerEvent event);

struct WorkerInput {
  WorkerEvent event;
  pid_t pid = 0;       // kSpawned
  ProcessExit exit;    // kExited
  std::string detail;  // kSpawnFailed: the error; kStop: who asked
  std::string error;   // kExited: why, as the worker said on its channel (may be empty)
};

// What a worker's machine asks of the controller; `index` names the worker.
class WorkerEffects {
 public:
  enum class Timer { kRestart, kKill, kReady, kWatchdog };
  virtual ~WorkerEffects() = default;
  virtual absl::Time Now() = 0;
  // Starts a process for the worker; the answer comes back as kSpawned or
  // kSpawnFailed (possibly from within this call).
  virtual void SpawnWorker(int index) = 0;
  // Asks the running worker to quit (its control channel).
  virtual void AskToQuit(int index) = 0;
  virtual void SignalWorker(int index, int signal) = 0;  // its process group
  virtual void SetTimer(int index, Timer timer, absl::Time at) = 0;
  virtual void CancelTimer(int index, Timer timer) = 0;
  // Sends a ping on the worker's channel (answered with Pong).
  virtual void Ping(int index) = 0;
  // Has the worker write its pid file again if someone removed it.
  virtual void CheckPidFile(int index) = 0;
  // How long the worker's entry has been silent (its heartbeat slot;
  // negative while it sleeps as asked).
  virtual absl::Duration SinceLastHeartbeat(int index) = 0;
};

struct WorkerRun {
  pid_t pid = 0;
  absl::Time start_time = absl::InfinitePast();
  absl::Time end_time = absl::InfinitePast();
  ProcessExit exit;
  std::string description;
  std::string error;  // the entry's error, "cannot start: ...", "stop timeout",
                      // "not ready within 2s", "watchdog: ..."
};

// What the machine knows of one worker; ListWorkers and the debug file are
// views of it.
struct WorkerRecord {
  WorkerState state = WorkerState::kStarting;
  pid_t pid = 0;                                 // the current process, 0 when none
  absl::Time start_time = absl::InfinitePast();  // of the current or last run
  int restart_count = 0;
  std::optional<absl::Time> start_after;  // a restart is due then
  std::optional<absl::Time> kill_at;      // SIGKILL is due then
  bool stopped = false;                   // asked to quit: never restarted
  bool kill_sent = false;                 // SIGKILL after stop_timeout
  int consecutive_failures = 0;           // the restart policy's count
  // Ended runs, oldest first (a vector: an empty deque costs ~600 bytes,
  // and a pool holds one per worker).
  std::vector<WorkerRun> history;
  bool ready = false;  // the current process's entry runs and is ready
  std::string error;   // of the current run, until it ends
};

class WorkerMachine {
 public:
  struct Config {
    int index = 0;
    std::string name;
    std::string entry;  // for messages
    std::optional<absl::Duration> restart_interval;
    std::optional<absl::Duration> stop_timeout;
    absl::Duration check_interval = absl::Minutes(1);  // for messages
    // The pool's (shared by every worker; outlives the machine). Null:
    // the defaults, a fixed restart_interval and no limit.
    const RestartPolicy* restart_policy = nullptr;
    std::optional<absl::Duration> ready_timeout;     // SPEC §8; none: ready when it runs
    std::optional<absl::Duration> watchdog_timeout;  // none: no watchdog
    // A command worker (SPEC §10) has no channel to answer pings: Check
    // only looks after its pid file, as with a watchdog.
    bool pingable = true;
  };
  // From a hung worker's SIGABRT to its SIGKILL: time for a core dump.
  static constexpr absl::Duration kHungKillGrace = absl::Seconds(1);
  // The watchdog's timer never re-fires sooner than this after a read.
  static constexpr absl::Duration kWatchdogRecheck = absl::Milliseconds(2);
  static constexpr size_t kHistoryLength = 20;

  WorkerMachine(Config config, WorkerEffects* effects);

  void Start();  // the first process
  void Handle(const WorkerInput& input);

  const WorkerRecord& record() const { return record_; }
  WorkerState state() const { return record_.state; }
  bool has_process() const { return record_.pid > 0; }
  // EXITED: no process, none asked for, and none ever again.
  bool finished() const { return record_.state == WorkerState::kExited; }
  // Missed a whole check_interval without answering its ping.
  bool unresponsive() const { return unresponsive_; }
  // Why the last input was refused (Refuse), empty when it was taken.
  const std::string& refusal() const { return refusal_; }
  // A start is due once the stopping process is gone (Restart, StartAfter).
  bool start_pending() const { return start_pending_; }
  const Config& config() const { return config_; }

 private:
  using Action = void (WorkerMachine::*)(const WorkerInput&);
  static const Action kTable[kWorkerStateCount][kWorkerEventCount];

  void Ignore(const WorkerInput&) {}
  void Spawn(const WorkerInput& input);
  void Launched(const WorkerInput& input);
  void Late(const WorkerInput& input);
  void Failed(const WorkerInput& input);
  void Running(const WorkerInput& input);
  void Ended(const WorkerInput& input);
  void BeginStop(const WorkerInput& input);
  void StopWaiting(const WorkerInput& input);
  void Stopped(const WorkerInput& input);
  void Kill(const WorkerInput& input);
  void Check(const WorkerInput& input);
  void Answered(const WorkerInput& input);
  void Refuse(const WorkerInput& input);
  void StartNow(const WorkerInput& input);
  void RestartRun(const WorkerInput& input);
  void StartAfter(const WorkerInput& input);
  void NoRestart(const WorkerInput& input);
  void BecomeReady(const WorkerInput& input);
  void NotReady(const WorkerInput& input);
  void Watch(const WorkerInput& input);
  void KillHung(const WorkerInput& input);
  void ArmWatchdog();
  // An operator's start: the restart policy's count starts over.
  void ResetPolicy();

  // Records the run (logs it with `next`, what follows).
  void RecordEnd(const ProcessExit& exit, const std::string& error, const std::string& next);
  // A run (or a spawn) failed at `start`..`end`: what the policy says.
  void AfterFailure(absl::Time start, absl::Time end, int exitcode, const ProcessExit* exit,
                    const std::string& error);

  const Config config_;
  WorkerEffects* const effects_;
  WorkerRecord record_;
  // The check_interval ping (not part of the record: no view shows it).
  bool ping_outstanding_ = false;  // sent at the last check, no answer yet
  bool unresponsive_ = false;      // missed a whole check_interval
  bool start_pending_ = false;     // Spawn once the stopping process is gone
  std::string refusal_;            // of the last input
  // Made at the first failure (most workers never fail: no cost for them).
  std::unique_ptr<internal::RestartSchedule> schedule_;
};

}  // namespace appkit::controller

#endif  // APPKIT_CONTROLLER_WORKER_MACHINE_H_
