// Guardian: the supervising process of one daemon (SPEC §4).
//
// It owns the pid file (locked for its whole life) and the control socket,
// runs the executor (which runs the daemon entry), restarts it after a
// failure when restart_interval is set, and stops it on SIGTERM or a
// RequestQuit RPC (SIGTERM to the executor's process group, SIGKILL after
// stop_timeout). One thread runs one EventLoop; nothing polls.
//
// States and events (the whole design; keep this table true):
//
//   state \ event     | executor ready | executor exited    | quit requested   | restart timer | kill timer
//   ------------------+----------------+--------------------+------------------+---------------+-----------
//   STARTING          | -> RUNNING     | ok: -> EXITED      | SIGTERM group,   |       -       |     -
//   RUNNING           |       -        | fail & restart:    |  arm kill timer, |       -       |     -
//                     |                |  -> WAITING        |  -> STOPPING     |               |
//                     |                | fail, no restart:  |                  |               |
//                     |                |  -> EXITED         |                  |               |
//   WAITING_TO_RESTART|       -        |        -           | -> EXITED        | spawn ->      |     -
//                     |                |                    |                  |  STARTING     |
//   STOPPING          | (ignored)      | -> EXITED          | (ignored)        |       -       | SIGKILL group
//   EXITED            | the loop stops; the socket and the pid file are removed; the guardian exits 0
//
// Events come from: a signalfd (SIGTERM/SIGINT: quit; SIGCHLD: reap;
// SIGHUP: reopen logs), the executor's readiness pipe, the control socket,
// gRPC handlers (through EventLoop::Wake) and the loop's timers.
//
// SIGCHLD (not a pidfd) tells the executor's exit: the guardian is a child
// subreaper, so orphans of the daemon's tree are re-parented to it and need
// reaping anyway; waitid(WNOWAIT) identifies the executor first, its
// process group is SIGKILLed while the zombie still pins the group id, and
// only then is it reaped. What escaped the group is killed next, before
// the restart or the exit (the daemon's cgroup or, without one, the
// re-parented orphans: guardian/containment.h).
#ifndef APPKIT_GUARDIAN_GUARDIAN_H_
#define APPKIT_GUARDIAN_GUARDIAN_H_

#include <sys/types.h>

#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/process/accept_watch.h"
#include "common/control/control_server.h"
#include "common/process/event_loop.h"
#include "common/process/fork_server.h"
#include "common/process/pid_file.h"
#include "common/process/spawn.h"
#include "common/base/unique_fd.h"
#include "proto/guardian.pb.h"
#include "proto/launch.pb.h"

namespace appkit::guardian {

class Guardian {
 public:
  // `executor_server`: the executor fork server StartDaemon started next
  // to the guardian, or nullptr (then the guardian starts one).
  Guardian(v1::DaemonLaunch launch, std::unique_ptr<ForkServer> executor_server);
  ~Guardian();

  // Runs the daemon to its end and returns the guardian's exit code.
  // `ready_fd` receives one GuardianReady message (then is closed) once the
  // guardian owns the pid file and serves its socket, or failed to.
  // Precondition: called on the main thread before any other thread exists
  // (it blocks the signals it reads through signalfd).
  int Run(int ready_fd);

  // For the gRPC service (any thread).
  v1::GuardianStatus Status() const;
  void RequestQuitFromRpc();
  const v1::DaemonLaunch& launch() const { return launch_; }

 private:
  void OnSignals();
  void ReapChildren();
  void OnExecutorReadable();
  void OnExecutorExited(const ProcessExit& exit);
  void OnRestartTimer();
  // WAITING_TO_RESTART: a new executor restart_interval after `from`.
  void ScheduleRestart(absl::Time from) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnKillTimer();
  void OnWake();
  void Quit(const std::string& reason);
  void StartExecutor();
  absl::StatusOr<pid_t> SpawnExecutor(const v1::ExecutorLaunch& launch);
  absl::StatusOr<pid_t> ForkExecutor(const std::string& request, int ready_fd);
  absl::Status StartExecutorServer();
  void Finish(const std::string& why);
  void ReopenOutputs();
  void SetState(v1::GuardianState state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const v1::DaemonLaunch launch_;
  const std::optional<absl::Duration> restart_interval_;
  const std::optional<absl::Duration> stop_timeout_;
  const absl::Time start_time_;

  EventLoop loop_;
  UniqueFd signal_fd_;
  std::unique_ptr<PidFile> pid_file_;
  std::unique_ptr<ControlServer> server_;
  std::unique_ptr<AcceptWatch> accept_watch_;  // of server_
  std::unique_ptr<class GuardianService> service_;

  // The current executor (loop thread only).
  pid_t executor_pid_ = 0;
  UniqueFd executor_ready_fd_;
  bool executor_ran_ = false;  // its "ready" byte came: the entry runs
  // The executor binary, exec'd once: each (re)start is a fork of it.
  std::unique_ptr<ForkServer> executor_server_;
  // The daemon's cgroup, or the subreaper fallback (set before the loop).
  std::unique_ptr<class Containment> containment_;
  EventLoop::TimerId restart_timer_ = 0;
  EventLoop::TimerId kill_timer_ = 0;

  mutable absl::Mutex mu_;
  v1::GuardianStatus status_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::ProcessRun> history_ ABSL_GUARDED_BY(mu_);
  bool rpc_quit_requested_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace appkit::guardian

#endif  // APPKIT_GUARDIAN_GUARDIAN_H_
