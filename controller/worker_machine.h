// One worker's state machine in the controller, as a table of small
// actions indexed [state][event] (the model is s6-supervise). Pure:
// processes, the control channel and timers are reached through
// WorkerEffects, so every cell runs in a unit test
// (worker_machine_test.cc); the controller (controller.h) turns pidfds,
// channel bytes, timers and requests into WorkerInputs.
//
// clang-format off
//   state \ event   | Spawned  | SpawnFailed | EntryRunning | Exited  | Stop        | RestartDue | KillDue | CheckDue | Pong     | Start      | Restart
//   ----------------+----------+-------------+--------------+---------+-------------+------------+---------+----------+----------+------------+-----------
//   STARTING        | Launched | Failed      | Running      | Ended   | BeginStop   | -          | -       | -        | -        | Refuse     | RestartRun
//   RUNNING         | -        | -           | -            | Ended   | BeginStop   | -          | -       | Check    | Answered | Refuse     | RestartRun
//   WAITING_RESTART | -        | -           | -            | -       | StopWaiting | Spawn      | -       | -        | -        | StartNow   | StartNow
//   STOPPING        | Late     | Stopped     | -            | Stopped | NoRestart   | -          | Kill    | -        | -        | StartAfter | StartAfter
//   EXITED          | -        | -           | -            | -       | -           | -          | -       | -        | -        | StartNow   | StartNow
// clang-format on
//
//   Spawn:       ask for a worker process (the answer comes as Spawned or
//                SpawnFailed) -> STARTING
//   Launched:    record the new process
//   Late:        a process asked for before the stop: record it (it got the
//                quit request on its channel already); SIGKILL if the kill
//                time has passed
//   Failed:      like Ended for a run that never began
//   Running:     -> RUNNING (the worker loaded its entry)
//   Ended:       record the run; -> WAITING_TO_RESTART with the restart
//                timer, or EXITED when stopped or without restart_interval
//   BeginStop:   ask the worker to quit, kill timer at stop_timeout
//                -> STOPPING; the worker is not restarted any more
//   StopWaiting: cancel the restart timer -> EXITED
//   Stopped:     record the run, cancel the kill timer -> EXITED
//   Kill:        SIGKILL to the worker's process group
//   Check:       (each check_interval) ping the worker on its channel; one
//                that did not answer the previous ping is logged as hung;
//                have its pid file written again if it was removed
//   Answered:    the ping's answer; a worker logged as hung is logged again
//                as answering
//   Refuse:      (Start of a worker that runs) nothing changes; refusal()
//                says why (the controller answers FAILED_PRECONDITION)
//   StartNow:    cancel a restart timer, forget the stop -> Spawn now
//   RestartRun:  BeginStop, and Spawn once the process is gone (Stopped)
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

#include "absl/time/time.h"
#include "common/process/spawn.h"

namespace appkit::controller {

enum class WorkerState : uint8_t { kStarting, kRunning, kWaitingToRestart, kStopping, kExited };
inline constexpr int kWorkerStateCount = 5;

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
  kStart,         // StartWorker: start it if it does not run (detail: who asked)
  kRestart,       // RestartWorker: graceful restart, or start (detail: who asked)
};
inline constexpr int kWorkerEventCount = 11;

const char* WorkerStateName(WorkerState state);  // "STARTING", ... (the wire names)
const char* WorkerEventName(WorkerEvent event);

struct WorkerInput {
  WorkerEvent event;
  pid_t pid = 0;       // kSpawned
  ProcessExit exit;    // kExited
  std::string detail;  // kSpawnFailed: the error; kStop: who asked
};

// What a worker's machine asks of the controller; `index` names the worker.
class WorkerEffects {
 public:
  enum class Timer { kRestart, kKill };
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
};

struct WorkerRun {
  pid_t pid = 0;
  absl::Time start_time = absl::InfinitePast();
  absl::Time end_time = absl::InfinitePast();
  ProcessExit exit;
  std::string description;
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
  // Ended runs, oldest first (a vector: an empty deque costs ~600 bytes,
  // and a pool holds one per worker).
  std::vector<WorkerRun> history;
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
  };
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

  void RecordEnd(const ProcessExit& exit);
  void RestartOrEnd();

  const Config config_;
  WorkerEffects* const effects_;
  WorkerRecord record_;
  // The check_interval ping (not part of the record: no view shows it).
  bool ping_outstanding_ = false;  // sent at the last check, no answer yet
  bool unresponsive_ = false;      // missed a whole check_interval
  bool start_pending_ = false;     // Spawn once the stopping process is gone
  std::string refusal_;            // of the last input
};

}  // namespace appkit::controller

#endif  // APPKIT_CONTROLLER_WORKER_MACHINE_H_
