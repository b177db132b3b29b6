#include "common/process/fork_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/errno_status.h"
#include "common/base/fd_io.h"
#include "common/process/fork_server_protocol.h"
#include "common/process/process_title.h"
#include "common/process/spawn.h"
#include "proto/wire.h"

// The client side of the fork server: ForkServer (fork_server.h). The
// server side is serve_fork_requests.cc.
namespace appkit {
namespace {

using fork_server_protocol::ControlBuffer;
using fork_server_protocol::kFixedFds;
using fork_server_protocol::kMaxFds;
using fork_server_protocol::kSupervisorEnv;
using fork_server_protocol::RequestHeader;

// Lets a child run once its pid is known (ChildSetup::go_fd).
void SendGo(int go_fd) {
  const char go = static_cast<char>(wire::Message::kGo);
  (void)!send(go_fd, &go, 1, MSG_NOSIGNAL);
}

// How a server is spawned, by Start or as a companion: the socket as fd wire::kForkServerFd,
// its own process group, SIGTERM when the supervisor dies. SIGTERM, not
// SIGKILL: the server cleans up after a dead supervisor; blocked until the
// server handles it, so an early death is not missed.
SpawnOptions ServerSpawnOptions(const std::string& binary, const std::vector<std::string>& args,
                                int server_end) {
  SpawnOptions options;
  options.argv = {binary};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.fds = {{server_end, wire::kForkServerFd}};
  options.group = SpawnOptions::Group::kNewProcessGroup;
  options.parent_death_signal = SIGTERM;
  options.blocked_signals = {SIGTERM};
  return options;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ForkServer>> ForkServer::Start(const std::string& binary,
                                                              const std::vector<std::string>& args,
                                                              int cgroup_fd,
                                                              const std::string& title) {
  int ends[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) {
    return ErrnoStatus(errno, "socketpair for the fork server");
  }
  UniqueFd ours(ends[0]);
  UniqueFd theirs(ends[1]);
  SpawnOptions options = ServerSpawnOptions(binary, args, theirs.get());
  if (!title.empty()) options.argv0 = ExecTitle(title);
  // Who the supervisor is, even if it dies before the server's main runs
  // (then getppid() would already name the new parent).
  options.extra_env = {absl::StrCat(kSupervisorEnv, "=", getpid())};
  options.cgroup_fd = cgroup_fd;
  absl::StatusOr<pid_t> pid = Spawn(options);
  if (!pid.ok()) return pid.status();
  return std::unique_ptr<ForkServer>(new ForkServer(*pid, std::move(ours)));
}

absl::StatusOr<ForkServer::CompanionLaunch> ForkServer::PrepareCompanion(
    const std::string& binary, const std::vector<std::string>& args, const int stdio[3],
    const std::string& title) {
  int ends[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) {
    return ErrnoStatus(errno, "socketpair for the fork server");
  }
  CompanionLaunch launch;
  launch.supervisor_end.reset(ends[0]);
  launch.server_end.reset(ends[1]);
  launch.companion.options = ServerSpawnOptions(binary, args, launch.server_end.get());
  if (!title.empty()) launch.companion.options.argv0 = ExecTitle(title);
  launch.companion.options.fds.insert(launch.companion.options.fds.begin(),
                                      {{stdio[0], 0}, {stdio[1], 1}, {stdio[2], 2}});
  launch.companion.pid_env = kServerPidEnv;
  launch.companion.parent_pid_env = kSupervisorEnv;  // written by SpawnDetached
  launch.companion.exec_error_env = kServerExecErrorEnv;
  return launch;
}

std::unique_ptr<ForkServer> ForkServer::FromChild(pid_t pid, UniqueFd socket) {
  return std::unique_ptr<ForkServer>(new ForkServer(pid, std::move(socket)));
}

std::unique_ptr<ForkServer> ForkServer::Adopt(int fd) {
  const char* value = getenv(kServerPidEnv);
  int pid = 0;
  bool given = value != nullptr && absl::SimpleAtoi(value, &pid) && pid > 0;
  const char* error = getenv(kServerExecErrorEnv);
  int exec_errno = 0;
  bool failed = error != nullptr && absl::SimpleAtoi(error, &exec_errno) && exec_errno != 0;
  unsetenv(kServerPidEnv);
  unsetenv(kServerExecErrorEnv);
  UniqueFd socket(fd);
  if (!given) return nullptr;
  // The launcher's clone of it exec'd before we did, or failed to and is
  // exiting (a broken binary): then reap it, and the caller starts one
  // with Start, which says why. A launcher that does not say (no
  // kServerExecErrorEnv) leaves only a look at whether it is gone yet.
  siginfo_t info = {};
  if (failed) {
    while (waitid(P_PID, pid, &info, WEXITED) < 0 && errno == EINTR) {
    }
    return nullptr;
  }
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
      SendGo(oldest.go.get());
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
  SendGo(go.get());
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

}  // namespace appkit
