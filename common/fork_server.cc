#include "common/fork_server.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/cgroup.h"
#include "common/errno_status.h"
#include "common/fd_io.h"
#include "common/pidfd.h"
#include "common/spawn.h"

namespace appkit {
namespace {

constexpr int kMaxFds = 8;
constexpr char kSupervisorEnv[] = "APPKIT_FORK_SERVER_SUPERVISOR";

// The fixed part of a request. The fds sent with it: the request bytes in
// a memfd (any size, one message), the child's "go" socket, then the
// `fd_count` fds to install.
struct RequestHeader {
  uint32_t fd_count;  // fds to install (after the memfd and the go socket)
  int32_t targets[kMaxFds];
  uint32_t has_cgroup;  // 1: one more fd follows, the cgroup to start the child in
};

constexpr int kFixedFds = 2;  // the memfd and the go socket

union ControlBuffer {
  char buffer[CMSG_SPACE(sizeof(int) * (kMaxFds + kFixedFds + 1))];
  cmsghdr align;
};

// Whether clone3(CLONE_INTO_CGROUP) is out of reach (APPKIT_CGROUPS=join,
// a kernel before 5.7, a seccomp filter): children then join their cgroup
// themselves. Set once in the server.
bool clone_into_cgroup_unavailable = false;

// Forks the child: the supervisor's (CLONE_PARENT), in `cgroup_fd` when
// it is not -1. `join` tells the child to join it itself.
long CloneChild(int cgroup_fd, bool& join) {
  join = false;
  if (cgroup_fd >= 0 && !clone_into_cgroup_unavailable) {
    clone_args args = {};
    args.flags = CLONE_PARENT | CLONE_INTO_CGROUP;
    args.exit_signal = 0;  // with CLONE_PARENT: the server's own (SIGCHLD)
    args.cgroup = static_cast<uint64_t>(cgroup_fd);
    long pid = syscall(SYS_clone3, &args, sizeof(args));
    if (pid >= 0 || (errno != ENOSYS && errno != E2BIG && errno != EINVAL)) return pid;
    clone_into_cgroup_unavailable = true;
  }
  join = cgroup_fd >= 0;
  return syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, nullptr, nullptr, 0);
}

// Child side, right after the fork: becomes a supervised child as
// described in the header, then runs the request.
[[noreturn]] void RunChild(pid_t supervisor, const RequestHeader& header, int* fds, int join_fd,
                           const std::function<int(const std::string&)>& run_child) {
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != supervisor) _exit(128 + SIGKILL);  // it died before prctl
  // Wait for the supervisor's go: it sends it once it has our pid. A
  // supervisor that gave up on this fork (no answer in time) closes the
  // socket instead, and we leave without running anything.
  for (;;) {
    char go;
    ssize_t n = read(fds[1], &go, 1);
    if (n == 1) break;
    if (n < 0 && errno == EINTR) continue;
    _exit(127);
  }

  // Into our cgroup before anything else runs (when not cloned into it).
  int join_errno = 0;
  if (join_fd >= 0) {
    int procs = openat(join_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
    if (procs < 0 || write(procs, "0", 1) != 1) join_errno = errno;
    if (procs >= 0) close(procs);
  }

  const std::string request = PreadAll(fds[0]).value_or("");
  // Install the fds: move every source out of the way first so a target
  // number never clobbers a source still to be installed.
  int moved[kMaxFds];
  int max_target = 2;
  bool has_stdin = false;
  for (uint32_t i = 0; i < header.fd_count; ++i) {
    if (header.targets[i] > max_target) max_target = header.targets[i];
    if (header.targets[i] == 0) has_stdin = true;
  }
  // Just above the highest target, not at a fixed number: the fd limit
  // may be low (RLIMIT_NOFILE 32 leaves no fd 100).
  for (uint32_t i = 0; i < header.fd_count; ++i) {
    moved[i] = fcntl(fds[i + kFixedFds], F_DUPFD_CLOEXEC, max_target + 1);
    if (moved[i] < 0) _exit(127);
  }
  for (uint32_t i = 0; i < header.fd_count; ++i) {
    if (dup2(moved[i], header.targets[i]) < 0) _exit(127);
  }
  // Below the highest target, close what is not a target (the server's
  // own socket is fd 3).
  for (int fd = 3; fd < max_target; ++fd) {
    bool target = false;
    for (uint32_t i = 0; i < header.fd_count; ++i) target = target || header.targets[i] == fd;
    if (!target) close(fd);
  }
  if (!has_stdin) {
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd > 0) {
      dup2(null_fd, 0);
      close(null_fd);
    }
  }
  close_range(max_target + 1, ~0U, 0);  // the memfd, the go socket, the copies
  if (join_errno != 0) {
    dprintf(2, "appkit: a supervised child cannot join its cgroup: %s\n", strerror(join_errno));
    _exit(127);
  }

  // Default dispositions; SIGTERM, SIGINT and SIGHUP stay blocked (as the
  // server blocked them around the fork) until the host installs its
  // handlers: a quit or a logrotate that comes while the child starts is
  // handled, not lost and not fatal.
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);
  sigset_t held;
  sigemptyset(&held);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&held, sig);
  sigprocmask(SIG_SETMASK, &held, nullptr);

  int code = run_child(request);
  fflush(nullptr);
  _exit(code);
}

}  // namespace

namespace {

// How a server is spawned, by Start or as a companion: the socket as fd 3,
// its own process group, SIGTERM when the supervisor dies. SIGTERM, not
// SIGKILL: the server cleans up after a dead supervisor; blocked until the
// server handles it, so an early death is not missed.
SpawnOptions ServerSpawnOptions(const std::string& binary, const std::vector<std::string>& args,
                                int server_end) {
  SpawnOptions options;
  options.argv = {binary};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.fds = {{server_end, 3}};
  options.group = SpawnOptions::Group::kNewProcessGroup;
  options.parent_death_signal = SIGTERM;
  options.blocked_signals = {SIGTERM};
  return options;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ForkServer>> ForkServer::Start(
    const std::string& binary, const std::vector<std::string>& args, int cgroup_fd) {
  int ends[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) {
    return ErrnoStatus(errno, "socketpair for the fork server");
  }
  UniqueFd ours(ends[0]);
  UniqueFd theirs(ends[1]);
  SpawnOptions options = ServerSpawnOptions(binary, args, theirs.get());
  // Who the supervisor is, even if it dies before the server's main runs
  // (then getppid() would already name the new parent).
  options.extra_env = {absl::StrCat(kSupervisorEnv, "=", getpid())};
  options.cgroup_fd = cgroup_fd;
  absl::StatusOr<pid_t> pid = Spawn(options);
  if (!pid.ok()) return pid.status();
  return std::unique_ptr<ForkServer>(new ForkServer(*pid, std::move(ours)));
}

absl::StatusOr<ForkServer::CompanionLaunch> ForkServer::PrepareCompanion(
    const std::string& binary, const std::vector<std::string>& args, const int stdio[3]) {
  int ends[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) {
    return ErrnoStatus(errno, "socketpair for the fork server");
  }
  CompanionLaunch launch;
  launch.supervisor_end.reset(ends[0]);
  launch.server_end.reset(ends[1]);
  launch.companion.options = ServerSpawnOptions(binary, args, launch.server_end.get());
  launch.companion.options.fds.insert(launch.companion.options.fds.begin(),
                                      {{stdio[0], 0}, {stdio[1], 1}, {stdio[2], 2}});
  launch.companion.pid_env = kServerPidEnv;
  launch.companion.parent_pid_env = kSupervisorEnv;  // written by SpawnDetached
  return launch;
}

std::unique_ptr<ForkServer> ForkServer::Adopt(int fd) {
  const char* value = getenv(kServerPidEnv);
  int pid = 0;
  bool given = value != nullptr && absl::SimpleAtoi(value, &pid) && pid > 0;
  unsetenv(kServerPidEnv);
  UniqueFd socket(fd);
  if (!given) return nullptr;
  // The launcher's clone of it exec'd before we did, or died trying (a
  // broken binary): then reap it, and the caller starts one with Start,
  // which says why.
  siginfo_t info = {};
  if (waitid(P_PID, pid, &info, WEXITED | WNOHANG) == 0 && info.si_pid != 0) return nullptr;
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  return std::unique_ptr<ForkServer>(new ForkServer(pid, std::move(socket)));
}

ForkServer::~ForkServer() {
  socket_.reset();
  if (reaped_) return;
  // It holds nothing worth a graceful exit; never wait on a stuck one.
  kill(pid_, SIGKILL);
  int status;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

absl::StatusOr<pid_t> ForkServer::Fork(const std::string& request,
                                       const std::vector<std::pair<int, int>>& fds, int cgroup_fd,
                                       absl::Duration timeout) {
  // Answers of a pipelined batch nobody collected: void them (their
  // children leave) rather than read the wrong answer.
  if (!pending_.empty()) Break();
  absl::Status sent = Send(request, fds, cgroup_fd);
  if (!sent.ok()) return sent;
  return Receive(timeout);
}

absl::Status ForkServer::Send(const std::string& request,
                              const std::vector<std::pair<int, int>>& fds, int cgroup_fd) {
  if (broken_) return absl::UnavailableError("the fork server is gone");
  if (fds.size() > kMaxFds) return absl::InvalidArgumentError("too many fds for one child");
  absl::StatusOr<int> memfd = MemfdWithContent("appkit-fork-request", request);
  if (!memfd.ok()) return memfd.status();
  UniqueFd body(*memfd);
  int go_ends[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, go_ends) != 0) {
    return ErrnoStatus(errno, "socketpair for a fork");
  }
  UniqueFd go(go_ends[0]);
  UniqueFd go_child(go_ends[1]);

  RequestHeader header = {};
  header.fd_count = static_cast<uint32_t>(fds.size());
  header.has_cgroup = cgroup_fd >= 0 ? 1 : 0;
  const size_t send_count = fds.size() + kFixedFds + header.has_cgroup;
  int send_fds[kMaxFds + kFixedFds + 1];
  send_fds[0] = body.get();
  send_fds[1] = go_child.get();
  for (size_t i = 0; i < fds.size(); ++i) {
    header.targets[i] = fds[i].second;
    send_fds[i + kFixedFds] = fds[i].first;
  }
  if (cgroup_fd >= 0) send_fds[fds.size() + kFixedFds] = cgroup_fd;
  iovec iov = {&header, sizeof(header)};
  ControlBuffer control = {};
  msghdr message = {};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control.buffer;
  message.msg_controllen = CMSG_SPACE(sizeof(int) * send_count);
  cmsghdr* cmsg = CMSG_FIRSTHDR(&message);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int) * send_count);
  memcpy(CMSG_DATA(cmsg), send_fds, sizeof(int) * send_count);

  ssize_t sent;
  do {
    sent = sendmsg(socket_.get(), &message, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent != static_cast<ssize_t>(sizeof(header))) {
    Break();
    return absl::UnavailableError(
        absl::StrCat("fork server ", pid_, " is gone (", strerror(errno), ")"));
  }
  pending_.push_back(Pending{std::move(go), nullptr, absl::InfiniteFuture()});
  return absl::OkStatus();
}

void ForkServer::Submit(const std::string& request, const std::vector<std::pair<int, int>>& fds,
                        int cgroup_fd, Answer answer, absl::Duration timeout) {
  absl::Status sent = Send(request, fds, cgroup_fd);
  if (!sent.ok()) {
    answer(sent);
    return;
  }
  pending_.back().answer = std::move(answer);
  pending_.back().deadline = absl::Now() + timeout;
}

void ForkServer::OnReadable() {
  while (!pending_.empty()) {
    int64_t reply = 0;
    ssize_t n = recv(socket_.get(), &reply, sizeof(reply), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n != sizeof(reply)) {
      Break();
      return;
    }
    Pending oldest = std::move(pending_.front());
    pending_.pop_front();
    absl::StatusOr<pid_t> pid = Answered(reply);
    if (pid.ok()) {
      const char go_byte = 'g';
      (void)!send(oldest.go.get(), &go_byte, 1, MSG_NOSIGNAL);
    }
    if (oldest.answer) oldest.answer(pid);
  }
}

std::optional<absl::Time> ForkServer::deadline() const {
  if (pending_.empty() || broken_) return std::nullopt;
  return pending_.front().deadline;
}

void ForkServer::Expire() {
  if (!pending_.empty() && absl::Now() >= pending_.front().deadline) {
    Break(absl::StrCat("fork server ", pid_, " did not answer"));
  }
}

absl::StatusOr<pid_t> ForkServer::Answered(int64_t reply) {
  if (reply < 0) {
    // The server is fine; the system is out of processes or memory.
    return absl::ResourceExhaustedError(
        absl::StrCat("fork server ", pid_, " cannot fork: ", strerror(static_cast<int>(-reply))));
  }
  return static_cast<pid_t>(reply);
}

absl::StatusOr<pid_t> ForkServer::Receive(absl::Duration timeout) {
  if (pending_.empty()) return absl::FailedPreconditionError("no request pending");
  UniqueFd go = std::move(pending_.front().go);
  pending_.pop_front();
  if (broken_) return absl::UnavailableError("the fork server is gone");
  pollfd wait = {socket_.get(), POLLIN, 0};
  int ready;
  do {
    ready = poll(&wait, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  } while (ready < 0 && errno == EINTR);
  int64_t reply = 0;
  ssize_t n = ready == 1 ? recv(socket_.get(), &reply, sizeof(reply), 0) : -1;
  if (n != sizeof(reply)) {
    // A child it may still have made finds `go` closed and leaves; so do
    // the children of the requests still pending.
    Break();
    return absl::UnavailableError(
        absl::StrCat("fork server ", pid_, ready == 0 ? " did not answer" : " is gone"));
  }
  absl::StatusOr<pid_t> pid = Answered(reply);
  if (!pid.ok()) return pid;
  const char go_byte = 'g';
  (void)!send(go.get(), &go_byte, 1, MSG_NOSIGNAL);
  return pid;
}

void ForkServer::Break(const std::string& why) {
  broken_ = true;
  // Their children (if any) find their go socket closed and leave.
  std::deque<Pending> voided = std::move(pending_);
  pending_.clear();
  for (Pending& request : voided) {
    request.go.reset();
    if (request.answer) request.answer(absl::UnavailableError(why));
  }
}

namespace {
void OnTerm(int) {}  // only interrupts recvmsg
}  // namespace

pid_t ForkServerSupervisor() {
  int pid = 0;
  const char* value = getenv(kSupervisorEnv);
  if (value != nullptr && absl::SimpleAtoi(value, &pid) && pid > 0) return pid;
  return getppid();
}

int ServeForkRequests(int socket_fd, const std::function<int(const std::string& request)>& run_child,
                      const ForkServerHooks& hooks) {
  const pid_t supervisor = ForkServerSupervisor();
  unsetenv(kSupervisorEnv);  // not for the children
  clone_into_cgroup_unavailable = ConfiguredCgroupMode() == CgroupMode::kJoin;
  struct sigaction term = {};
  term.sa_handler = OnTerm;  // no SA_RESTART: recvmsg returns EINTR
  sigemptyset(&term.sa_mask);
  sigaction(SIGTERM, &term, nullptr);
  // A `killall -HUP worker` meant for the workers must not take the server
  // down; its children reset every disposition (RunChild).
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  sigset_t term_only;
  sigemptyset(&term_only);
  sigaddset(&term_only, SIGTERM);
  sigprocmask(SIG_UNBLOCK, &term_only, nullptr);
  // Identifies the supervisor even after its pid is reused.
  UniqueFd supervisor_fd = OpenPidfd(supervisor);
  auto supervisor_gone = [&] {
    if (!hooks.on_supervisor_gone) return;
    // A supervisor closing its end on purpose kills us right after; one
    // that died closes it a moment before it exits: wait to know which.
    // (The parent-death signal itself may interrupt this wait.)
    // (No pidfd: the supervisor was gone already.)
    if (supervisor_fd && !WaitForExit(supervisor_fd.get(), absl::Now() + absl::Seconds(2))) {
      return;
    }
    hooks.on_supervisor_gone();
  };
  for (;;) {
    RequestHeader header = {};
    iovec iov = {&header, sizeof(header)};
    ControlBuffer control = {};
    msghdr message = {};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control.buffer;
    message.msg_controllen = sizeof(control.buffer);
    ssize_t n = recvmsg(socket_fd, &message, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) {
      if (getppid() == supervisor) continue;  // a stray SIGTERM
      supervisor_gone();
      return 0;
    }
    if (n <= 0) {
      // The supervisor closed its end: on purpose, or by dying. Its death
      // may still be on the way (our parent-death signal): when our
      // parent is alive, this was a normal close.
      supervisor_gone();
      return n == 0 ? 0 : 1;
    }

    int fds[kMaxFds + kFixedFds + 1];
    int fd_count = 0;
    for (cmsghdr* cmsg = CMSG_FIRSTHDR(&message); cmsg != nullptr;
         cmsg = CMSG_NXTHDR(&message, cmsg)) {
      if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) {
        fd_count = static_cast<int>((cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        memcpy(fds, CMSG_DATA(cmsg), sizeof(int) * fd_count);
      }
    }
    int64_t reply = 0;
    if (n != sizeof(header) || header.fd_count > kMaxFds || header.has_cgroup > 1 ||
        fd_count != static_cast<int>(header.fd_count + header.has_cgroup) + kFixedFds) {
      reply = -EINVAL;
    } else {
      // A fork whose child's parent is the supervisor, not us. Signals the
      // child must not lose are blocked across it (see RunChild).
      const int cgroup_fd = header.has_cgroup ? fds[kFixedFds + header.fd_count] : -1;
      sigset_t held, saved;
      sigemptyset(&held);
      for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&held, sig);
      sigprocmask(SIG_BLOCK, &held, &saved);
      bool join = false;
      long pid = CloneChild(cgroup_fd, join);
      if (pid == 0) RunChild(supervisor, header, fds, join ? cgroup_fd : -1, run_child);
      const int clone_errno = errno;
      sigprocmask(SIG_SETMASK, &saved, nullptr);
      reply = pid < 0 ? -clone_errno : pid;
    }
    // Answer first: the supervisor goes on while we record the child.
    const bool answered = send(socket_fd, &reply, sizeof(reply), MSG_NOSIGNAL) == sizeof(reply);
    if (reply > 0 && hooks.on_forked) {
      hooks.on_forked(PreadAll(fds[0]).value_or(""), static_cast<pid_t>(reply));
    }
    for (int i = 0; i < fd_count; ++i) close(fds[i]);
    if (!answered) {
      supervisor_gone();  // it sent a request and died
      return 1;
    }
  }
}

}  // namespace appkit
