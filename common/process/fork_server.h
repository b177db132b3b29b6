// ForkServer: a pre-started process that forks supervised children on
// request, so that starting a child costs a fork, not an exec.
//
// Exec'ing a binary that links protobuf and abseil costs 4-7 ms here (18
// with gRPC: dozens of shared libraries to map and relocate); a supervisor that
// starts 1000 workers, or restarts one within 5 ms, cannot pay that per
// child. So the supervisor execs its server binary once (Start), and asks
// it for each child (Fork). The server is single-threaded and runs no
// user code, so forking it is safe; each child then runs `run_child` with
// the request.
//
// Children are the *supervisor's* children, not the server's: the server
// forks with CLONE_PARENT. The supervisor reaps them, gets their exit
// status, and owns their pidfds exactly as if it had forked them itself.
// Each child:
//   - leads a new process group (its tree can be signalled as one); it
//     makes the group itself right after the fork, so signal it with
//     SignalProcessGroup (common/process/spawn.h), which covers that instant;
//   - gets SIGKILL when the supervisor's spawning thread dies, set without
//     the race (prctl(PR_SET_PDEATHSIG) then a getppid() check);
//   - has default signal dispositions and SIGTERM, SIGINT and SIGHUP
//     blocked: `run_child` unblocks them once it handles them (the appkit
//     host does, in StartHost), so none that arrives early is lost;
//   - has exactly fds 0, 1, 2 plus the ones sent with the request
//     (stdin is /dev/null unless fd 0 is sent);
//   - starts in the cgroup sent with the request, if any (common/process/cgroup.h):
//     cloned into it (clone3 CLONE_INTO_CGROUP), or, where clone3 cannot,
//     it joins it before anything else runs (a child that cannot exits
//     127, saying why on its stderr).
// The server exits when the supervisor closes its end. When the supervisor
// dies (SIGKILL: its end closes, and the server gets SIGTERM as its
// parent-death signal) the server runs `on_supervisor_gone` first: it is
// the survivor that kills what is left of the children's process groups
// and removes the pid files and sockets the dead could not (see
// OrphanCleanup).
//
// Client side: not thread-safe; use it from the thread that Started it
// (the parent-death signal is tied to that thread).
#ifndef APPKIT_COMMON_FORK_SERVER_H_
#define APPKIT_COMMON_FORK_SERVER_H_

#include <sys/types.h>

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/base/unique_fd.h"
#include "common/process/spawn.h"

namespace appkit {

class ForkServer {
 public:
  // Execs `binary` with `args` and a socket as fd wire::kForkServerFd (see ServeForkRequests),
  // in the cgroup `cgroup_fd` (an OpenCgroup fd) unless it is -1.
  // `title`, when set, is its argv[0] (process_title.h).
  static absl::StatusOr<std::unique_ptr<ForkServer>> Start(const std::string& binary,
                                                           const std::vector<std::string>& args,
                                                           int cgroup_fd = -1,
                                                           const std::string& title = "");

  // The same server started by someone else for this process: a
  // supervisor about to be exec'd has it started next to itself as a
  // SpawnDetached companion (PrepareCompanion), so that both load at once,
  // and adopts it once running (Adopt). The companion's fds 0-2 are
  // `stdio` (in, out, err); the supervisor gets its end of the socket as
  // fd `supervisor_fd`, the server's pid in kServerPidEnv, and whether its
  // exec failed (an errno, 0: it runs) in kServerExecErrorEnv.
  static constexpr char kServerPidEnv[] = "APPKIT_FORK_SERVER_PID";
  static constexpr char kServerExecErrorEnv[] = "APPKIT_FORK_SERVER_EXEC_ERROR";
  struct CompanionLaunch {
    Companion companion;
    UniqueFd supervisor_end;  // to install in the supervisor
    UniqueFd server_end;      // installed in the server by the companion
  };
  static absl::StatusOr<CompanionLaunch> PrepareCompanion(const std::string& binary,
                                                          const std::vector<std::string>& args,
                                                          const int stdio[3],
                                                          const std::string& title = "");
  // In the supervisor: the server its launcher started, or nullptr when
  // none was (kServerPidEnv unset) or its exec failed (reaped here, a
  // moment's wait for a process already exiting; start one with Start,
  // which reports why). Takes `fd` (made close-on-exec, or closed) and
  // clears the variables. A server that dies after its exec is found
  // later, on first use.
  static std::unique_ptr<ForkServer> Adopt(int fd);

  // A server this process forked from itself, without an exec (a
  // zygote, controller/prestarted_server.h): child `pid` runs
  // ServeForkRequests on the other end of `socket` (installed there as fd
  // wire::kForkServerFd).
  static std::unique_ptr<ForkServer> FromChild(pid_t pid, UniqueFd socket);

  // Closes the socket (the server exits) and reaps the server.
  ~ForkServer();
  ForkServer(const ForkServer&) = delete;
  ForkServer& operator=(const ForkServer&) = delete;

  // Starts a child running `request`, with {fd here, fd number in the
  // child} installed (at most 8), in the cgroup `cgroup_fd` (an OpenCgroup
  // fd; -1: the server's own). Returns its pid: a child of this
  // process, to be reaped by the caller. Fails if the server is gone or
  // did not answer within `timeout`; the server is then unusable (start a
  // new one).
  absl::StatusOr<pid_t> Fork(const std::string& request,
                             const std::vector<std::pair<int, int>>& fds, int cgroup_fd = -1,
                             absl::Duration timeout = absl::Seconds(5));

  // The same, pipelined: Send several requests (the server forks them back
  // to back), then Receive their pids in the same order. After an
  // Unavailable error every pending request is void (its child, if any,
  // leaves without running).
  absl::Status Send(const std::string& request, const std::vector<std::pair<int, int>>& fds,
                    int cgroup_fd = -1);
  absl::StatusOr<pid_t> Receive(absl::Duration timeout = absl::Seconds(5));
  size_t pending() const { return pending_.size(); }

  // The same for an owner that runs an EventLoop, so that nothing waits
  // on its thread: Submit sends the request and keeps `answer`; the owner
  // watches fd() and calls OnReadable() when it is readable, and keeps a
  // timer at deadline() that calls Expire(). `answer` runs (from
  // OnReadable, Expire, or Submit itself when the send fails) with the
  // child's pid, or with Unavailable when the server is gone or did not
  // answer within `timeout` (then every pending request is void, its
  // child, if any, leaves without running, and the server is unusable),
  // or ResourceExhausted when the server could not fork. Answers come in
  // request order. Do not mix with Fork/Send/Receive on one server.
  using Answer = std::function<void(absl::StatusOr<pid_t>)>;
  void Submit(const std::string& request, const std::vector<std::pair<int, int>>& fds,
              int cgroup_fd, Answer answer, absl::Duration timeout = absl::Seconds(5));
  int fd() const { return socket_.get(); }
  void OnReadable();
  std::optional<absl::Time> deadline() const;
  void Expire();

  pid_t pid() const { return pid_; }

  // The owner reaped the server itself (it reaps all its children with
  // waitid(P_ALL)): the destructor must not signal or wait for that pid.
  void Reaped() {
    reaped_ = true;
    Break();
  }

 private:
  ForkServer(pid_t pid, UniqueFd socket) : pid_(pid), socket_(std::move(socket)) {}
  void Break(const std::string& why = "the fork server is gone");
  // The answer to the oldest pending request, sent its go when it is a pid.
  absl::StatusOr<pid_t> Answered(int64_t reply);

  // A request sent and not yet answered: its child's "go" socket, and for
  // Submit, the answer and when it is due.
  struct Pending {
    UniqueFd go;
    Answer answer;
    absl::Time deadline = absl::InfiniteFuture();
  };

  pid_t pid_;
  UniqueFd socket_;
  bool broken_ = false;
  bool reaped_ = false;
  std::deque<Pending> pending_;  // oldest first
};

// Server side: the supervisor's pid (set by ForkServer::Start; correct even
// when the supervisor died before the server's main ran). Call before
// ServeForkRequests, which clears the variable it comes from.
pid_t ForkServerSupervisor();

struct ForkServerHooks {
  // In the server, after each fork: the request and the child's pid.
  std::function<void(const std::string& request, pid_t pid)> on_forked;
  // In the server, once the supervisor is gone (not when it closed its end
  // on purpose while alive, which it does after its children are gone).
  std::function<void()> on_supervisor_gone;
};

// Server side: the main of the server binary calls this with wire::kForkServerFd. Serves
// requests until the supervisor closes its end, then returns 0. In each
// child, `run_child(request)` runs with the fds installed, and the child
// exits with its return value.
int ServeForkRequests(int socket_fd,
                      const std::function<int(const std::string& request)>& run_child,
                      const ForkServerHooks& hooks = {});

}  // namespace appkit

#endif  // APPKIT_COMMON_FORK_SERVER_H_
