// Guardian: the supervising process of one daemon, and the driver of its
// state machine (guardian/machine.h, whose table is the design).
//
// It owns the pid file (locked for its whole life) and the guardian
// socket, runs the executor (which runs the daemon entry), restarts it
// after a failure when restart_interval is set, and stops it on SIGTERM,
// SIGINT or a RequestQuit RPC. One thread runs one EventLoop, and every
// event becomes one machine Input there:
//   signalfd   SIGTERM, SIGINT -> kQuit; SIGCHLD -> reap: the executor's
//              exit -> kExecutorExited; SIGHUP reopens the logs (no input);
//   launcher   the fork server's answer -> kSpawned / kSpawnFailed; the
//              readiness pipe -> kEntryRunning (guardian/executor_launcher.h);
//   containment  the leftovers are gone -> kCleared (guardian/containment.h);
//   timers     -> kRestartDue, kKillDue;
//   gRPC       RequestQuit -> EventLoop::Wake -> kQuit; Restart -> kRestart.
// The machine's Effects are implemented here; nothing on the loop waits.
// After each input the machine's Record is published under a mutex, and
// gRPC threads build their GuardianStatus from that snapshot
// (guardian/status_view.h); in the same step, the events the change means
// (guardian/watch_events.h) go to the Watch subscribers (EventHub).
//
// SIGCHLD (not a pidfd) tells the executor's exit: the guardian is a child
// subreaper, so orphans of the daemon's tree are re-parented to it and need
// reaping anyway; waitid(WNOWAIT) identifies the executor first, its
// process group is SIGKILLed while the zombie still pins the group id, and
// only then is it reaped. What escaped the group is killed next, before
// the restart or the exit (the machine's CLEANING_UP, and Finished).
#ifndef APPKIT_GUARDIAN_GUARDIAN_H_
#define APPKIT_GUARDIAN_GUARDIAN_H_

#include <sys/types.h>

#include <deque>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/base/status_file.h"
#include "common/base/unique_fd.h"
#include "common/control/control_server.h"
#include "common/control/event_hub.h"
#include "common/control/event_queue.h"
#include "common/control/tcp_health_server.h"
#include "common/process/accept_watch.h"
#include "common/process/event_loop.h"
#include "common/process/fork_server.h"
#include "common/process/heartbeat.h"
#include "common/process/notify_socket.h"
#include "common/process/pid_file.h"
#include "guardian/containment.h"
#include "guardian/executor_launcher.h"
#include "guardian/foreground_report.h"
#include "guardian/machine.h"
#include "guardian/status_view.h"
#include "proto/guardian.pb.h"
#include "proto/launch.pb.h"

namespace appkit::guardian {

class Guardian final : private Effects {
 public:
  // `executor_server`: the executor fork server StartDaemon started next
  // to the guardian, or nullptr (then the guardian starts one).
  Guardian(v1::DaemonLaunch launch, std::unique_ptr<ForkServer> executor_server);
  ~Guardian() override;

  // Runs the daemon to its end and returns the guardian's exit code.
  // `ready_fd` receives one GuardianReady message (then is closed) once the
  // guardian owns the pid file and serves its socket, or failed to.
  // Precondition: called on the main thread before any other thread exists
  // (it blocks the signals it reads through signalfd).
  int Run(int ready_fd);

  // For the gRPC service (any thread).
  v1::GuardianStatus Status() const;
  void RequestQuitFromRpc();
  // Guardian.Restart: a kRestart input on the loop.
  void RequestRestartFromRpc();
  // Subscribes `queue` to the events; returns the snapshot they follow.
  v1::GuardianStatus Watch(std::shared_ptr<EventQueue> queue);

 private:
  // Everything before the loop; fills `ready` (running_pid when another
  // guardian holds the pid file).
  absl::Status Setup(v1::GuardianReady& ready);
  void Teardown();

  // Events, turned into Inputs.
  void OnSignals();
  void ReapChildren();
  void OnExecutorExited(const ProcessExit& exit);
  void OnWake();
  void ReopenOutputs();
  // sd_notify datagrams (SPEC §10) from the executor or its descendants.
  void OnNotify();
  void PublishNotice(v1::EventKind kind, const std::string& description);
  // Hands `input` to the machine; an input that an effect produces while
  // the machine handles another waits for it. Publishes the record after.
  void Feed(Input input);
  void Drain();
  // The status snapshot of the record Drain published (status_file.h).
  void WriteStatusFile();
  // After the inputs: health service "" follows readiness; a wait_ready
  // report is written once the first entry is ready, or failed first.
  void AfterInputs();
  // Publishes the record, and the events of the change to the watchers.
  void Publish();
  // Foreground mode (RunDaemon): WATCHDOG=1 on the report to the starter,
  // from the loop, when the starter's manager wants one.
  void StartForegroundWatchdog();

  // Effects.
  absl::Time Now() override;
  void SpawnExecutor() override;
  void SignalExecutor(int signal) override;
  void ClearLeftovers() override;
  void SetTimer(Timer timer, absl::Time at) override;
  void CancelTimer(Timer timer) override;
  absl::Duration SinceLastHeartbeat() override;
  void Finished() override;

  const v1::DaemonLaunch launch_;
  StatusFacts facts_;  // set before any gRPC thread exists

  EventLoop loop_;
  Machine machine_;
  UniqueFd signal_fd_;
  std::unique_ptr<ExecutorLauncher> launcher_;
  std::unique_ptr<Containment> containment_;
  std::unique_ptr<PidFile> pid_file_;
  std::unique_ptr<StatusFileWriter> status_file_;  // beside pid_file_; null: none
  uint64_t socket_dev_ = 0, socket_ino_ = 0;       // of the socket server_ listens on
  std::unique_ptr<ControlServer> server_;
  std::unique_ptr<AcceptWatch> accept_watch_;    // of server_
  std::unique_ptr<TcpHealthServer> tcp_health_;  // with health_listen
  std::unique_ptr<class GuardianService> service_;

  // Loop thread only.
  pid_t executor_pid_ = 0;                       // from its kSpawned to its reaping
  EventLoop::TimerId timers_[4] = {0, 0, 0, 0};  // by Effects::Timer
  std::unique_ptr<HeartbeatTable> heartbeats_;   // with a watchdog_timeout: slot 0
  std::unique_ptr<NotifySocket> notify_;         // every executor's NOTIFY_SOCKET (null: none)
  bool serving_ = false;                         // what health "" says
  int wait_ready_fd_ = -1;                       // StartDaemon's pipe, with wait_ready
  std::string wait_ready_error_;
  std::deque<Input> inputs_;
  bool feeding_ = false;
  std::unique_ptr<ForegroundReport> foreground_;  // foreground mode only
  EventLoop::Callback foreground_watchdog_;

  EventHub hub_;                    // Watch subscribers; taken before mu_
  v1::GuardianStatus last_status_;  // loop thread: what the watchers saw last
  mutable absl::Mutex mu_;
  Record published_ ABSL_GUARDED_BY(mu_);
  bool rpc_quit_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool rpc_restart_requested_ ABSL_GUARDED_BY(mu_) = false;
  std::string notify_status_ ABSL_GUARDED_BY(mu_);  // STATUS=, for GuardianStatus
};

}  // namespace appkit::guardian

#endif  // APPKIT_GUARDIAN_GUARDIAN_H_
