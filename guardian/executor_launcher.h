// ExecutorLauncher: how the guardian starts executors, without waiting.
//
// Every executor is a fork of the executor fork server (the executor
// binary, exec'd once: common/process/fork_server.h), asked for with Launch and
// answered later, through the owner's EventLoop: `spawned(pid)` or
// `failed(why)`. The fork server is the one StartDaemon started beside
// the guardian (adopted), or one started by Prepare; one that dies or
// stops answering (5 s) is replaced, once per launch: it gets SIGKILL and
// its reaping comes through the owner (OnChildExited).
//
// The contract with the executor (proto/wire.h): it gets the
// ExecutorLaunch of ExecutorLaunchFor as its request, stdout and stderr as
// the guardian has them now (SIGHUP may have reopened them), and a pipe as
// fd wire::kExecutorReadyFd, on which it writes wire::Message::kEntryRunning
// once the module is loaded and the entry is called: `entry_running()`.
// An executor that dies first closes the pipe without it. After that byte
// the pipe carries the executor's reports (common/host/supervisor_report.h):
// a pool's stop budget (`stop_budget(d)`) and the entry's error, read
// until EOF or the executor's exit (TakeError).
// With a ready_timeout, NotifyReady comes as one more report (`ready()`).
// An executor whose entry's module calls StartWorkers
// (DaemonLaunch.entry_starts_workers), or that follows an executor whose
// entry started a worker pool (it reported a stop budget), is asked to
// start a worker fork server before it loads the module (ExecutorLaunch
// .prestart_worker_server, controller/prestarted_server.h).
// With a watchdog_timeout, the heartbeat table's memfd (SetHeartbeatFd) is
// its wire::kExecutorHeartbeatFd.
//
// A command daemon (SPEC §10) skips the executor: its program is spawned
// straight from the guardian (Spawn: clone and exec, no fork server round
// trip, no executor binary to load), `spawned` and `entry_running` come
// from within Launch once the exec succeeded. The child is what the
// executor would have become: its own process group, SIGKILL when the
// guardian dies, stdin /dev/null, the guardian's stdout and stderr, the
// user's soft fd limit, the command's environment and NOTIFY_SOCKET, its
// working directory, the cgroup. When that cannot start (the program is
// gone, its directory is missing), the launch goes through the executor
// as for an entry, which records the run as exit 127 with the error
// naming the program, so that the restart policy applies as it does to
// any failed run. Its executor fork server (the survivor that removes the
// guardian's files after a SIGKILL, and the executor of a program that
// cannot be spawned) starts kCommandServerDelay after the program, not at
// once: its exec (the executor binary and its 41 shared libraries) would
// compete with the program's own start, which it delayed by ~5 ms here
// (bench/README.md). A guardian killed by SIGKILL before that leaves its
// pid file, status file and socket, all stale (no lock, nobody listening),
// which every reader and the next start recognise as such.
//
// Not thread-safe: the loop's thread only. Callbacks may run from within
// Launch (a fork server that cannot start), or later from the loop.
#ifndef APPKIT_GUARDIAN_EXECUTOR_LAUNCHER_H_
#define APPKIT_GUARDIAN_EXECUTOR_LAUNCHER_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/base/unique_fd.h"
#include "common/process/event_loop.h"
#include "common/process/fork_server.h"
#include "common/process/spawn.h"
#include "proto/launch.pb.h"

namespace appkit::guardian {

// What every executor of the daemon `launch` is asked to run.
v1::ExecutorLaunch ExecutorLaunchFor(const v1::DaemonLaunch& launch, pid_t guardian_pid);

// The executor fork server's arguments: the guardian's files, which it
// removes if the guardian dies by SIGKILL (executor/main.cc).
std::vector<std::string> ExecutorServerArgs(const v1::DaemonLaunch& launch);

class ExecutorLauncher {
 public:
  // How long after a command daemon's program its executor fork server
  // starts (see above): past the start of a typical native program.
  static constexpr absl::Duration kCommandServerDelay = absl::Milliseconds(100);

  struct Callbacks {
    // `gone`: it was reaped already (killed before its answer was read).
    std::function<void(pid_t pid, const std::optional<ProcessExit>& gone)> spawned;
    std::function<void(const std::string& why)> failed;
    std::function<void()> entry_running;
    std::function<void(absl::Duration)> stop_budget;  // may be empty
    std::function<void()> ready;  // NotifyReady (only with DaemonLaunch.ready_timeout)
  };

  // `server`: the fork server StartDaemon started, or nullptr. `loop`
  // outlives the launcher.
  ExecutorLauncher(EventLoop* loop, const v1::DaemonLaunch& launch,
                   std::unique_ptr<ForkServer> server, Callbacks callbacks);
  ~ExecutorLauncher();

  // The watchdog's heartbeat table, handed to every executor as
  // wire::kExecutorHeartbeatFd (-1: none). Before the first Launch.
  void SetHeartbeatFd(int fd) { heartbeat_fd_ = fd; }

  // Starts a fork server unless one was adopted (a command daemon's:
  // from the loop, once its first program runs).
  absl::Status Prepare();

  // Asks for an executor in the cgroup `cgroup_fd` (-1: the fork
  // server's). One at a time: the next once this one was answered.
  void Launch(int cgroup_fd);

  // At the executor's exit: whether its entry ran (its message may still
  // be unread). Stops watching its pipe.
  bool TakeEntryRan();
  // At the executor's exit, after TakeEntryRan: the error its entry
  // reported ("" when none).
  std::string TakeError();

  // The owner reaped `pid`: true when it was a fork server of ours. While
  // a launch is under way any other child is remembered until the answer:
  // the executor asked for is our child from its clone on, and may be
  // killed and reaped before its pid is read (then `spawned` says so).
  bool OnChildExited(pid_t pid, const ProcessExit& exit);

  // The live fork server (0: none yet), never to be killed as a leftover.
  pid_t server_pid() const { return server_ ? server_->pid() : 0; }

 private:
  absl::Status StartServer();
  // A command's program spawned by us; false when it could not start.
  bool LaunchDirectly();
  void Attempt();
  void Answered(absl::StatusOr<pid_t> pid);
  void Fail(const std::string& why);
  void OnReady();
  // Reads what the pipe holds now; false at EOF (or an error).
  bool ReadReady();
  // The entry-running byte, then the reports, from what was read; at the
  // executor's exit only its error is kept (no callbacks: the exit tells).
  void Decode(bool at_exit);
  void Retire();
  // Watches the fork server's socket and keeps its deadline timer while
  // a request is pending.
  void Rearm();
  void StopWatchingServer();

  EventLoop* const loop_;
  const std::string executor_path_;
  const std::vector<std::string> server_args_;
  const std::string server_title_;         // its argv[0] (process_title.h)
  const std::string request_;              // a serialized ExecutorLaunchFor
  const std::string prestarting_request_;  // the same with prestart_worker_server
  const bool entry_starts_workers_;        // DaemonLaunch's
  const Callbacks callbacks_;
  // A command daemon's program, spawned without the executor (no argv:
  // an entry daemon).
  SpawnOptions direct_;

  std::unique_ptr<ForkServer> server_;
  bool server_broken_ = false;                        // it answered Unavailable: replace it
  std::vector<std::unique_ptr<ForkServer>> retired_;  // SIGKILLed, not reaped yet
  int watched_server_fd_ = -1;
  EventLoop::TimerId deadline_timer_ = 0;
  EventLoop::TimerId retry_timer_ = 0;
  EventLoop::TimerId server_timer_ = 0;  // a command daemon's fork server, after its program

  // Whether a pool started since the last Launch (a stop budget was
  // reported).
  bool pool_seen_ = false;

  // The launch under way.
  bool launching_ = false;
  bool prestart_ = false;  // its request is prestarting_request_
  int cgroup_fd_ = -1;
  int attempts_ = 0;
  std::vector<std::pair<pid_t, ProcessExit>> reaped_while_launching_;
  UniqueFd pending_ready_;  // the readiness pipe of the request in flight

  // The current executor's readiness pipe.
  UniqueFd ready_;
  bool entry_ran_ = false;
  std::string ready_buffer_;  // report bytes not decoded yet
  std::string error_;
  int heartbeat_fd_ = -1;
};

}  // namespace appkit::guardian

#endif  // APPKIT_GUARDIAN_EXECUTOR_LAUNCHER_H_
