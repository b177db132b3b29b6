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
// SIGHUP thread post, then Wake the loop).
#ifndef APPKIT_CONTROLLER_CONTROLLER_H_
#define APPKIT_CONTROLLER_CONTROLLER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/base/unique_fd.h"
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
  v1::ListWorkersResponse Watch(std::shared_ptr<EventQueue> queue) override;

 private:
  struct Slot {
    Slot(int index, const WorkerMachine::Config& machine_config, WorkerEffects* effects)
        : index(index), machine(machine_config, effects) {}
    const int index;
    WorkerMachine machine;
    pid_t pid = 0;  // the current process: answered, not reaped yet
    UniqueFd pidfd;
    UniqueFd channel;  // our end, made with the fork request
    bool channel_watched = false;
    bool quit_asked = false;                      // a fork not sent yet is not sent any more
    std::string error;                            // what the current process said on its channel
    EventLoop::TimerId timers[4] = {0, 0, 0, 0};  // by WorkerEffects::Timer
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
  const WorkerConfig& ConfigOf(const Slot& slot) const { return config_.workers[slot.index]; }

  const ControllerConfig config_;
  EventLoop loop_;
  ChildReaper reaper_{&loop_};
  StatusBoard board_;
  std::unordered_map<std::string, int> index_by_name_;  // immutable after construction
  std::vector<std::unique_ptr<Slot>> slots_;
  std::unordered_map<pid_t, int> index_by_pid_;  // workers with a process
  int unfinished_ = 0;                           // machines not EXITED
  bool quitting_ = false;
  EventLoop::TimerId check_timer_ = 0;
  std::unique_ptr<HeartbeatTable> heartbeats_;  // a slot per worker, when one has a watchdog
  std::unique_ptr<NotifySocket> notify_;        // every worker's NOTIFY_SOCKET (null: none)
  std::unique_ptr<WorkerCgroups> cgroups_;      // null without; outlives batch_
  std::unique_ptr<ForkBatch> batch_;
  std::unique_ptr<DebugFile> debug_file_;
  std::unique_ptr<ControlSocket> control_socket_;

  // Posted by other threads, taken by OnWake.
  mutable absl::Mutex inbox_mu_;
  std::vector<std::string> quit_requests_ ABSL_GUARDED_BY(inbox_mu_);
  bool hangup_ ABSL_GUARDED_BY(inbox_mu_) = false;
};

}  // namespace appkit::controller

#endif  // APPKIT_CONTROLLER_CONTROLLER_H_
