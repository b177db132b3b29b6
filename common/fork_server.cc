#include "common/fork_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "common/spawn.h"

namespace appkit {
namespace {

constexpr int kMaxFds = 8;

// The fixed part of a request; the request bytes travel in a memfd sent
// as the first fd (any size, one message).
struct RequestHeader {
  uint32_t fd_count;  // fds after the memfd
  int32_t targets[kMaxFds];
};

union ControlBuffer {
  char buffer[CMSG_SPACE(sizeof(int) * (kMaxFds + 1))];
  cmsghdr align;
};

// Child side, right after the fork: becomes a supervised child as
// described in the header, then runs the request.
[[noreturn]] void RunChild(pid_t supervisor, const RequestHeader& header, int* fds,
                           const std::function<int(const std::string&)>& run_child) {
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != supervisor) _exit(128 + SIGKILL);  // it died before prctl

  std::string request;
  char chunk[65536];
  for (off_t offset = 0;;) {
    ssize_t n = pread(fds[0], chunk, sizeof(chunk), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    request.append(chunk, n);
    offset += n;
  }
  // Install the fds: move every source out of the way first so a target
  // number never clobbers a source still to be installed.
  int moved[kMaxFds];
  int max_target = 2;
  bool has_stdin = false;
  for (uint32_t i = 0; i < header.fd_count; ++i) {
    moved[i] = fcntl(fds[i + 1], F_DUPFD_CLOEXEC, 100);
    if (header.targets[i] > max_target) max_target = header.targets[i];
    if (header.targets[i] == 0) has_stdin = true;
  }
  for (uint32_t i = 0; i < header.fd_count; ++i) dup2(moved[i], header.targets[i]);
  if (!has_stdin) {
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd > 0) {
      dup2(null_fd, 0);
      close(null_fd);
    }
  }
  close_range(max_target + 1, ~0U, 0);  // the server's socket, the memfd, the copies

  sigset_t empty;
  sigemptyset(&empty);
  sigprocmask(SIG_SETMASK, &empty, nullptr);
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);

  int code = run_child(request);
  fflush(nullptr);
  _exit(code);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ForkServer>> ForkServer::Start(
    const std::string& binary, const std::vector<std::string>& args) {
  int ends[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) {
    return ErrnoStatus(errno, "socketpair for the fork server");
  }
  UniqueFd ours(ends[0]);
  UniqueFd theirs(ends[1]);
  SpawnOptions options;
  options.argv = {binary};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.fds = {{theirs.get(), 3}};
  options.group = SpawnOptions::Group::kNewProcessGroup;
  options.parent_death_signal = SIGKILL;
  absl::StatusOr<pid_t> pid = Spawn(options);
  if (!pid.ok()) return pid.status();
  return std::unique_ptr<ForkServer>(new ForkServer(*pid, std::move(ours)));
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
                                       const std::vector<std::pair<int, int>>& fds,
                                       absl::Duration timeout) {
  if (broken_) return absl::UnavailableError("the fork server is gone");
  if (fds.size() > kMaxFds) return absl::InvalidArgumentError("too many fds for one child");
  absl::StatusOr<int> memfd = MemfdWithContent("appkit-fork-request", request);
  if (!memfd.ok()) return memfd.status();
  UniqueFd body(*memfd);

  RequestHeader header = {};
  header.fd_count = static_cast<uint32_t>(fds.size());
  int send_fds[kMaxFds + 1];
  send_fds[0] = body.get();
  for (size_t i = 0; i < fds.size(); ++i) {
    header.targets[i] = fds[i].second;
    send_fds[i + 1] = fds[i].first;
  }
  iovec iov = {&header, sizeof(header)};
  ControlBuffer control = {};
  msghdr message = {};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control.buffer;
  message.msg_controllen = CMSG_SPACE(sizeof(int) * (fds.size() + 1));
  cmsghdr* cmsg = CMSG_FIRSTHDR(&message);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int) * (fds.size() + 1));
  memcpy(CMSG_DATA(cmsg), send_fds, sizeof(int) * (fds.size() + 1));

  ssize_t sent;
  do {
    sent = sendmsg(socket_.get(), &message, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent != static_cast<ssize_t>(sizeof(header))) {
    broken_ = true;
    return ErrnoStatus(errno, absl::StrCat("fork server ", pid_, " is gone"));
  }

  pollfd wait = {socket_.get(), POLLIN, 0};
  int ready;
  do {
    ready = poll(&wait, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  } while (ready < 0 && errno == EINTR);
  int64_t reply = 0;
  ssize_t n = ready == 1 ? recv(socket_.get(), &reply, sizeof(reply), 0) : -1;
  if (n != sizeof(reply)) {
    broken_ = true;
    return absl::UnavailableError(
        absl::StrCat("fork server ", pid_, ready == 0 ? " did not answer" : " is gone"));
  }
  if (reply < 0) {
    return ErrnoStatus(static_cast<int>(-reply), "fork server cannot fork");
  }
  return static_cast<pid_t>(reply);
}

int ServeForkRequests(int socket_fd, const std::function<int(const std::string& request)>& run_child) {
  const pid_t supervisor = getppid();
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
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) return 0;  // the supervisor closed its end
    if (n < 0) return 1;

    int fds[kMaxFds + 1];
    int fd_count = 0;
    for (cmsghdr* cmsg = CMSG_FIRSTHDR(&message); cmsg != nullptr;
         cmsg = CMSG_NXTHDR(&message, cmsg)) {
      if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) {
        fd_count = static_cast<int>((cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        memcpy(fds, CMSG_DATA(cmsg), sizeof(int) * fd_count);
      }
    }
    int64_t reply;
    if (n != sizeof(header) || header.fd_count > kMaxFds ||
        fd_count != static_cast<int>(header.fd_count) + 1) {
      reply = -EINVAL;
    } else {
      // A fork whose child's parent is the supervisor, not us.
      long pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, nullptr, nullptr, 0);
      if (pid == 0) RunChild(supervisor, header, fds, run_child);
      reply = pid < 0 ? -errno : pid;
    }
    for (int i = 0; i < fd_count; ++i) close(fds[i]);
    if (send(socket_fd, &reply, sizeof(reply), MSG_NOSIGNAL) != sizeof(reply)) return 1;
  }
}

}  // namespace appkit
