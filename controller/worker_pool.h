// WorkerPool: the worker controller behind StartWorkers. Keeps N named
// worker processes alive on one thread, event-driven:
//
//   event                     | per-worker state change
//   --------------------------+---------------------------------------------
//   start / restart timer     | (none) -> STARTING      fork via the server
//   "r" on the channel        | STARTING -> RUNNING     entry loaded
//   pidfd readable (exit)     | any -> WAITING_TO_RESTART (restart_interval,
//                             |   not quitting) or EXITED; the exit is
//                             |   reaped, recorded in the history, and the
//                             |   worker's process group is killed
//   quit (one or all)         | STARTING/RUNNING -> STOPPING ("q" sent,
//                             |   SIGKILL timer at stop_timeout);
//                             |   WAITING_TO_RESTART -> EXITED
//   stop timeout timer        | STOPPING: SIGKILL to the worker's group
//   check_interval timer      | pid files removed by hand are rewritten;
//                             |   each RUNNING worker is pinged ("h") on its
//                             |   channel; one that has not answered ("H")
//                             |   the previous ping is logged as hung
//   SIGHUP to this process    | SIGHUP to every worker (reopen outputs)
//
// Every event costs O(1) in the number of workers (fds and timers are
// keyed by worker); the debug file and snapshot (O(N) to render) are
// rewritten at most once per 10 ms, after the changes of that window.
//
// Workers are forked by one worker fork server (worker/main.cc) started
// by the pool, and are children of the pool's thread: they die with it
// (PR_SET_PDEATHSIG), and the pool reaps them through pidfds. Each runs
// in its own cgroup when the machine allows (worker_cgroups.h): what it
// leaves behind is killed at its exit, with its process group.
//
// Quit: the process-wide quit latch (SIGTERM, RequestQuit) or a
// Controller.RequestQuit for the whole pool asks every worker to quit;
// Run returns once none is left. RequestQuit for one worker stops that
// worker for good (it is not restarted).
//
// Threads: Run() owns the pool; the gRPC handlers (other threads) only
// read state under `mu_` and post requests with Wake().
#ifndef APPKIT_CONTROLLER_WORKER_POOL_H_
#define APPKIT_CONTROLLER_WORKER_POOL_H_

#include <sys/types.h>

#include <deque>
#include <utility>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/accept_watch.h"
#include "common/event_loop.h"
#include "common/fork_server.h"
#include "common/logging.h"
#include "common/spawn.h"
#include "common/stdio_files.h"
#include "common/unique_fd.h"
#include "controller/control_plane.h"
#include "controller/worker_cgroups.h"
#include "google/protobuf/struct.pb.h"
#include "proto/controller.pb.h"

namespace appkit::controller {

struct WorkerConfig {
  std::string name;
  std::string entry;           // as the user wrote it
  std::string resolved_entry;  // "/abs/libx.so:function"
  google::protobuf::Struct args;
  std::optional<LoggingConfig> logging;
  std::string pid_filename;
  std::string stdout_filename;
  std::string stderr_filename;
};

struct PoolConfig {
  std::vector<WorkerConfig> workers;  // validated: unique non-empty names
  std::optional<std::string> debug_filename;
  absl::Duration check_interval = absl::Minutes(1);
  std::optional<absl::Duration> restart_interval;
  std::optional<absl::Duration> stop_timeout;
  std::string worker_binary;   // the worker fork server
  std::string control_socket;  // serve appkit.v1.Controller there; "" for none
  uint64_t user_fd_limit = 0;  // the workers' soft RLIMIT_NOFILE (0: as inherited)
};

class WorkerPool final : public PoolControl {
 public:
  explicit WorkerPool(PoolConfig config);
  ~WorkerPool();

  // Runs the pool until quit and every worker is gone. Errors only when
  // the pool cannot start at all (fork server, control socket).
  absl::Status Run();

  // For the control service (any thread).
  v1::ListWorkersResponse ListWorkers() const override;
  std::string DebugSnapshotJson() const override;
  // Empty name: the whole pool. NotFound for an unknown name.
  absl::Status RequestQuit(const std::string& worker_name) override;

 private:
  static constexpr size_t kHistoryLength = 20;

  struct Worker {
    int index = 0;
    WorkerConfig config;
    v1::WorkerState state = v1::WORKER_STATE_UNSPECIFIED;
    pid_t pid = 0;  // the current process, 0 when none
    UniqueFd pidfd;
    UniqueFd channel;  // our end of the control channel
    bool channel_watched = false;  // for the worker's life, until EOF
    absl::Time start_time = absl::InfinitePast();  // of the current or last run
    std::optional<absl::Time> start_after;         // restart due
    std::optional<absl::Time> kill_at;             // SIGKILL due
    EventLoop::TimerId restart_timer = 0;
    EventLoop::TimerId kill_timer = 0;
    int restart_count = 0;
    bool stopped = false;  // quit requested for this worker: no restart
    bool ping_outstanding = false;  // "h" sent at the last check, no "H" yet
    bool unresponsive = false;      // missed a whole check_interval
    std::deque<v1::ProcessRun> history;
  };

  // What one worker's fork needs: the launch message, its fds, and our
  // end of its control channel.
  struct PreparedFork {
    std::string request;
    StdioFiles stdio;
    UniqueFd ours, theirs;
    UniqueFd cgroup;  // the worker's cgroup, when the pool has them
    std::vector<std::pair<int, int>> fds;
  };

  absl::Status StartForkServer();
  void StartAll() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartWorker(Worker& worker) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ResetForStart(Worker& worker) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReapStrays() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<PreparedFork> PrepareFork(const Worker& worker) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<pid_t> ForkWorker(Worker& worker, UniqueFd& channel)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishStart(Worker& worker, absl::StatusOr<pid_t> pid, UniqueFd channel)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnChannelReadable(Worker& worker);
  void OnWorkerExited(Worker& worker);
  void RecordEnd(Worker& worker, const ProcessExit& exit, const std::string& description)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AfterEnd(Worker& worker) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // WAITING_TO_RESTART with its timer, or EXITED (quitting, stopped, or no
  // restart_interval).
  void RestartOrEnd(Worker& worker) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StopWorker(Worker& worker, const std::string& reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void QuitAll(const std::string& reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnKillTimer(Worker& worker);
  void OnCheckTimer();
  void OnWake();
  void ForwardHangup();  // host SIGHUP thread
  void MaybeFinish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkChanged() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteDebugInfo();
  v1::WorkerStatus StatusOf(const Worker& worker) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const PoolConfig config_;
  EventLoop loop_;
  std::unique_ptr<WorkerCgroups> cgroups_;  // null without; outlives fork_server_
  std::unique_ptr<ForkServer> fork_server_;
  std::unique_ptr<ControlPlane> control_plane_;  // when serving a socket
  std::unique_ptr<AcceptWatch> accept_watch_;    // of control_plane_

  mutable absl::Mutex mu_;
  std::vector<Worker> workers_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, int> index_by_name_;  // immutable after construction
  bool quitting_ ABSL_GUARDED_BY(mu_) = false;
  int alive_ ABSL_GUARDED_BY(mu_) = 0;  // workers with a process
  std::vector<std::string> pending_quits_ ABSL_GUARDED_BY(mu_);  // from RPCs
  std::string debug_json_ ABSL_GUARDED_BY(mu_);

  // Debug file throttle (loop thread only).
  bool debug_dirty_ = false;
  EventLoop::TimerId debug_timer_ = 0;
  absl::Time last_debug_write_ = absl::InfinitePast();
  EventLoop::TimerId check_timer_ = 0;
};

}  // namespace appkit::controller

#endif  // APPKIT_CONTROLLER_WORKER_POOL_H_
