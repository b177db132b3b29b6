// Controller: what StartWorkers runs (client/start_workers.cc). It keeps
// one process per named worker alive, on the calling thread, by driving
// one WorkerMachine per worker (worker_machine.h holds the state table)
// from one EventLoop. Everything that happens becomes an input of a
// machine, and the machines' requests (WorkerEffects) become process I/O:
//
//   event                                   | input of worker i's machine
//   ----------------------------------------+---------------------------------
//   the fork server's answer (fork_batch.h) | Spawned (pid) or SpawnFailed
//   worker i's pidfd readable               | Exited: reaped here, what it left
//                                           |   in its process group and cgroup
//                                           |   killed, its stale pid file removed
//   kEntryRunning / kPong / kReady on its   | EntryRunning / Pong / Ready
//     channel                               |
//   its restart / kill / ready / watchdog   | RestartDue / KillDue / ReadyDue /
//     timer                                 |   WatchdogDue (its heartbeat slot
//                                           |   read: SinceLastHeartbeat)
//   the check_interval timer                | CheckDue (every worker)
//   RequestQuit(name) over the socket       | Stop
//   StartWorker / RestartWorker(name)       | Start / Restart (a refusal: the
//                                           |   answer is FAILED_PRECONDITION)
//   RemoveWorker(name)                      | Stop; forgotten once EXITED
//   RollingRestart()                        | Restart of each running worker,
//                                           |   the next once its replacement
//                                           |   runs (WorkerUp)
//   the quit latch (SIGTERM, RequestQuit),  | Stop (every worker); Run returns
//     RequestQuit("") over the socket       |   once every machine is EXITED
//
//   effect            | carried out as
//   ------------------+------------------------------------------------------
//   SpawnWorker       | ForkBatch::Enqueue: a request to the worker fork server
//   AskToQuit, Ping,  | kQuit, kPing, kRewritePidFile on the worker's channel
//     CheckPidFile    |   (worker_channel.h)
//   SignalWorker      | a signal to the worker's process group
//   Set/CancelTimer   | the loop's timers
//
// SIGHUP reaching this process (logrotate) is posted to the loop by the
// host's SIGHUP thread; the loop sends SIGHUP to every worker's process.
//
// Workers are forked by one worker fork server (worker/main.cc) and are
// children of this thread: they die with it (PR_SET_PDEATHSIG). Each runs
// in its own cgroup when the machine allows (worker_cgroups.h).
//
// Every event costs O(1) in the number of workers, but for the
// check_interval timer and quit (every worker), and the debug file,
// rewritten at most once per DebugFile::kSpacing.
//
// Threads: Run's thread owns everything but the StatusBoard (the snapshot
// the RPCs read) and the inbox (requests that gRPC's threads and the host's
// SIGHUP thread post, then Wake the loop). The worker verbs are commands
// in the inbox that answer through a callback from the loop: a gRPC thread
// never waits for the loop, the loop never waits for a client.
//
// Worker verbs (PoolControl; every one FAILED_PRECONDITION once the pool
// is quitting, NOT_FOUND for an unknown name):
// - StartWorker: a worker that is not running starts now (EXITED,
//   WAITING_TO_RESTART, FATAL), or once its stopping process is gone;
//   FAILED_PRECONDITION naming it when it runs or starts.
// - RestartWorker: quit, wait (SIGKILL after stop_timeout), start; a
//   worker that does not run just starts.
// - AddWorker: the spec checked as StartWorkers checks a worker
//   (ControllerConfig::check_spec; INVALID_ARGUMENT), ALREADY_EXISTS for a
//   name in use, INVALID_ARGUMENT for a pid file in use; the worker gets
//   the next index (indexes are never reused) and starts.
// - RemoveWorker: stops the worker as RequestQuit does; answers once it is
//   gone and forgotten (not in ListWorkers nor in the debug file).
// - RollingRestart: restarts the workers that run (STARTING or RUNNING),
//   in index order, one at a time, each once the previous one's
//   replacement is up (WorkerUp); answers with their names. A second one
//   while one runs: FAILED_PRECONDITION. A replacement that ends before it
//   is up, or the pool quitting, ends it with ABORTED (naming the worker
//   and those restarted so far).
#ifndef APPKIT_CONTROLLER_CONTROLLER_H_
#define APPKIT_CONTROLLER_CONTROLLER_H_

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/base/status_file.h"
#include "common/base/unique_fd.h"
#include "common/base/unix_listener.h"
#include "common/process/event_loop.h"
#include "common/process/heartbeat.h"
#include "common/process/notify_socket.h"
#include "controller/child_reaper.h"
#include "controller/config.h"
#include "controller/control_plane.h"
#include "controller/control_socket.h"
#include "controller/debug_file.h"
#include "controller/fork_batch.h"
#include "controller/status_board.h"
#include "controller/worker_cgroups.h"
#include "controller/worker_machine.h"
#include "proto/controller.pb.h"

namespace appkit::controller {

class Controller final : public PoolControl, private WorkerEffects, private ForkBatch::Client {
 public:
  explicit Controller(ControllerConfig config);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Runs until quit and every worker is gone. Errors only when the
  // controller cannot start at all (the worker binary, the socket).
  absl::Status Run();

  // PoolControl, for the Controller service (any thread).
  v1::ListWorkersResponse ListWorkers() const override;
  std::string DebugSnapshotJson() const override;
  // Empty name: every worker. NotFound for an unknown name.
  absl::Status RequestQuit(const std::string& worker_name) override;
  void StartWorker(const std::string& name, WorkerDone done) override;
  void RestartWorker(const std::string& name, WorkerDone done) override;
  void AddWorker(const v1::WorkerSpec& spec, WorkerDone done) override;
  void RemoveWorker(const std::string& name, std::function<void(absl::Status)> done) override;
  void RollingRestart(std::function<void(absl::StatusOr<std::vector<std::string>>)> done) override;
  v1::ListWorkersResponse Watch(std::shared_ptr<EventQueue> queue) override;

 private:
  struct Slot {
    Slot(int index, WorkerConfig config, const WorkerMachine::Config& machine_config,
         WorkerEffects* effects)
        : index(index), config(std::move(config)), machine(machine_config, effects) {}
    const int index;
    const WorkerConfig config;
    WorkerMachine machine;
    pid_t pid = 0;  // the current process: answered, not reaped yet
    UniqueFd pidfd;
    UniqueFd channel;   // our end, made with the fork request
    UniqueFd pid_lock;  // a command worker's pid file, locked for its program
    bool channel_watched = false;
    bool quit_asked = false;                      // a fork not sent yet is not sent any more
    std::string error;                            // what the current process said on its channel
    EventLoop::TimerId timers[4] = {0, 0, 0, 0};  // by WorkerEffects::Timer
    // RemoveWorker: forgotten once EXITED, then these are answered.
    bool removing = false;
    std::vector<std::function<void(absl::Status)>> removed;
  };
  // The RollingRestart under way.
  struct Rolling {
    std::vector<std::string> names;  // the workers to restart, in order
    size_t next = 0;                 // in names
    int current = -1;                // the index of the worker restarting
    pid_t replaced = 0;              // its process when it was asked to restart
    std::vector<std::string> restarted;
    std::function<void(absl::StatusOr<std::vector<std::string>>)> done;
  };

  // WorkerEffects.
  absl::Time Now() override;
  void SpawnWorker(int index) override;
  void AskToQuit(int index) override;
  void SignalWorker(int index, int signal) override;
  void SetTimer(int index, Timer timer, absl::Time at) override;
  void CancelTimer(int index, Timer timer) override;
  void Ping(int index) override;
  void CheckPidFile(int index) override;
  absl::Duration SinceLastHeartbeat(int index) override;

  // ForkBatch::Client.
  absl::StatusOr<ForkRequest> Prepare(int index) override;
  void Forked(int index, absl::StatusOr<pid_t> pid) override;
  bool IsWorker(pid_t pid) const override;

  // The one way into a machine.
  void Deliver(Slot& slot, const WorkerInput& input);
  void OnExit(Slot& slot);
  void OnChannelReadable(Slot& slot);
  void OnCheckTimer();
  // sd_notify datagrams (SPEC §10) from a worker's process or descendants.
  void OnNotify();
  void OnWake();
  void QuitAll(const std::string& reason);
  void MaybeFinish();
  void WriteStatusFile();
  const WorkerConfig& ConfigOf(const Slot& slot) const { return slot.config; }
  void AddSlot(WorkerConfig config);
  Slot* SlotNamed(const std::string& name);
  // Runs `command` on the loop; `closed` instead (on the calling thread)
  // once the pool has stopped.
  void Post(std::function<void()> command, std::function<void()> closed);
  // The checks every worker verb makes first: NotFound, quitting.
  absl::StatusOr<Slot*> VerbTarget(const std::string& name);
  v1::WorkerStatus StatusOf(const Slot& slot) const;
  void StartOrRestart(const std::string& name, WorkerEvent event, const WorkerDone& done);
  void Forget(Slot& slot);
  void RollNext();
  void RollCheck(Slot& slot);
  void EndRolling(absl::Status status);

  const ControllerConfig config_;
  EventLoop loop_;
  ChildReaper reaper_{&loop_};
  StatusBoard board_;
  std::unordered_map<std::string, int> index_by_name_;  // of the slots not forgotten
  std::vector<std::unique_ptr<Slot>> slots_;            // by index; null once forgotten
  std::unordered_map<pid_t, int> index_by_pid_;         // workers with a process
  int unfinished_ = 0;                                  // machines not EXITED
  bool quitting_ = false;
  EventLoop::TimerId check_timer_ = 0;
  std::unique_ptr<HeartbeatTable> heartbeats_;  // a slot per worker, when one has a watchdog
  int heartbeat_slots_ = 0;                     // in heartbeats_
  // Heartbeat slots beyond the configured workers, for AddWorker's.
  static constexpr int kAddedWorkerSlots = 256;
  absl::Status CreateHeartbeats(int workers);
  std::unique_ptr<NotifySocket> notify_;    // every worker's NOTIFY_SOCKET (null: none)
  std::unique_ptr<WorkerCgroups> cgroups_;  // null without; outlives batch_
  std::unique_ptr<ForkBatch> batch_;
  std::unique_ptr<DebugFile> debug_file_;
  // Beside control_socket_: the board's snapshot for appkitctl, written
  // before the loop waits after any change (WriteStatusFile).
  std::unique_ptr<StatusFileWriter> status_file_;
  std::unique_ptr<ControlSocket> control_socket_;
  // Loads the control-plane plugin while the workers start; the loop
  // opens control_socket_ once plane_loaded_ (OnWake).
  UnixListener pending_listener_;  // bound, not served yet
  std::thread plane_loader_;
  std::atomic<bool> plane_loaded_{false};
  absl::Status socket_error_;  // it could not listen: Run's result
  void OpenControlSocket();
  std::unique_ptr<Rolling> rolling_;

  // Posted by other threads, taken by OnWake.
  mutable absl::Mutex inbox_mu_;
  std::vector<std::string> quit_requests_ ABSL_GUARDED_BY(inbox_mu_);
  bool hangup_ ABSL_GUARDED_BY(inbox_mu_) = false;
  std::vector<std::function<void()>> commands_ ABSL_GUARDED_BY(inbox_mu_);
  bool closed_ ABSL_GUARDED_BY(inbox_mu_) = false;  // Run has returned: no more commands
};

}  // namespace appkit::controller

#endif  // APPKIT_CONTROLLER_CONTROLLER_H_
