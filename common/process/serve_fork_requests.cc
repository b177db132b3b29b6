// The server side of the fork server (fork_server.h): ServeForkRequests,
// the loop of a fork-server binary, and the children it forks. The client
// side is fork_server.cc; the request format, fork_server_protocol.h.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "common/base/fd_io.h"
#include "common/process/cgroup.h"
#include "common/process/child_setup.h"
#include "common/process/fork_server.h"
#include "common/process/fork_server_protocol.h"
#include "common/process/pidfd.h"

namespace appkit {
namespace {

namespace protocol = fork_server_protocol;

// The signals a child must not lose while it starts: blocked in the server
// across the fork, and in the child until its host handles them (the
// appkit host does, in StartHost), so that a quit or a logrotate that
// comes early is handled, neither lost nor fatal.
constexpr int kHeldSignals[] = {SIGTERM, SIGINT, SIGHUP};

// A request as received: its header and the fds attached.
struct Request {
  protocol::RequestHeader header = {};
  int fds[protocol::kMaxFds + protocol::kFixedFds + 1];
  int fd_count = 0;

  int memfd() const { return fds[0]; }
  int go() const { return fds[1]; }
  int cgroup() const { return header.has_cgroup ? fds[protocol::kFixedFds + header.fd_count] : -1; }
  bool Valid(ssize_t size) const {
    return size == sizeof(header) && header.fd_count <= protocol::kMaxFds &&
           header.has_cgroup <= 1 &&
           fd_count == static_cast<int>(header.fd_count + header.has_cgroup) + protocol::kFixedFds;
  }
};

// Receives one request (EINTR and EOF as recvmsg returns them).
ssize_t ReceiveRequest(int socket_fd, Request& request) {
  iovec iov = {&request.header, sizeof(request.header)};
  protocol::ControlBuffer control = {};
  msghdr message = {};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control.buffer;
  message.msg_controllen = sizeof(control.buffer);
  ssize_t n = recvmsg(socket_fd, &message, MSG_CMSG_CLOEXEC);
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&message); n > 0 && cmsg != nullptr;
       cmsg = CMSG_NXTHDR(&message, cmsg)) {
    if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) {
      request.fd_count = static_cast<int>((cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      memcpy(request.fds, CMSG_DATA(cmsg), sizeof(int) * request.fd_count);
    }
  }
  return n;
}

// The child's set-up (fork_server.h: what each child is), made in the
// server before the fork.
ChildSetup SetupFor(const Request& request, pid_t supervisor) {
  ChildSetup setup;
  setup.group = ChildGroup::kNewProcessGroup;
  setup.parent = supervisor;  // CLONE_PARENT: the supervisor is our parent
  setup.parent_death_signal = SIGKILL;
  // The supervisor's go: it sends it once it has our pid. One that gave
  // up on this fork (no answer in time) closes the socket instead, and we
  // leave without running anything.
  setup.go_fd = request.go();
  for (uint32_t i = 0; i < request.header.fd_count; ++i) {
    setup.AddFd(request.fds[protocol::kFixedFds + i], request.header.targets[i]);
  }
  setup.stdin_from_dev_null = true;
  setup.keep_fd = request.memfd();  // read once the child is set up
  for (int sig : kHeldSignals) setup.Block(sig);
  return setup;
}

// Child side, right after the fork: becomes a supervised child, then runs
// the request. Single-threaded (a fork of the server), so anything goes
// once the set-up is done.
[[noreturn]] void RunChild(const ChildSetup& setup,
                           const std::function<int(const std::string&)>& run_child) {
  ChildSetupResult result = SetUpChild(setup);
  if (!result.ok()) {
    dprintf(2, "appkit: a supervised child cannot %s: %s\n", result.what(), strerror(result.error));
    _exit(127);
  }
  const std::string request = PreadAll(result.keep_fd).value_or("");
  close(result.keep_fd);
  int code = run_child(request);
  fflush(nullptr);
  _exit(code);
}

void OnTerm(int) {}  // only interrupts recvmsg

}  // namespace

pid_t ForkServerSupervisor() {
  int pid = 0;
  const char* value = getenv(protocol::kSupervisorEnv);
  if (value != nullptr && absl::SimpleAtoi(value, &pid) && pid > 0) return pid;
  return getppid();
}

int ServeForkRequests(int socket_fd,
                      const std::function<int(const std::string& request)>& run_child,
                      const ForkServerHooks& hooks) {
  const pid_t supervisor = ForkServerSupervisor();
  unsetenv(protocol::kSupervisorEnv);  // not for the children
  // Whether clone3(CLONE_INTO_CGROUP) may be tried: not with
  // APPKIT_CGROUPS=join, nor once the kernel refused it (before 5.7, a
  // seccomp filter): children then join their cgroup themselves.
  bool try_clone3 = ConfiguredCgroupMode() != CgroupMode::kJoin;
  struct sigaction term = {};
  term.sa_handler = OnTerm;  // no SA_RESTART: recvmsg returns EINTR
  sigemptyset(&term.sa_mask);
  sigaction(SIGTERM, &term, nullptr);
  // A `killall -HUP worker` meant for the workers must not take the server
  // down; its children reset every disposition (SetUpChild).
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
    Request request;
    ssize_t n = ReceiveRequest(socket_fd, request);
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

    int64_t reply = 0;
    if (!request.Valid(n)) {
      reply = -EINVAL;
    } else {
      // A fork whose child's parent is the supervisor, not us, with the
      // signals it must not lose held across it.
      ChildSetup setup = SetupFor(request, supervisor);
      sigset_t held, saved;
      sigemptyset(&held);
      for (int sig : kHeldSignals) sigaddset(&held, sig);
      sigprocmask(SIG_BLOCK, &held, &saved);
      bool join = false;
      pid_t pid = ForkChild(/*clone_parent=*/true, request.cgroup(), try_clone3, join);
      if (pid == 0) {
        if (join) setup.join_cgroup_fd = request.cgroup();
        RunChild(setup, run_child);
      }
      const int clone_errno = errno;
      sigprocmask(SIG_SETMASK, &saved, nullptr);
      reply = pid < 0 ? -clone_errno : pid;
    }
    // Answer first: the supervisor goes on while we record the child.
    const bool answered = send(socket_fd, &reply, sizeof(reply), MSG_NOSIGNAL) == sizeof(reply);
    if (reply > 0 && hooks.on_forked) {
      hooks.on_forked(PreadAll(request.memfd()).value_or(""), static_cast<pid_t>(reply));
    }
    for (int i = 0; i < request.fd_count; ++i) close(request.fds[i]);
    if (!answered) {
      supervisor_gone();  // it sent a request and died
      return 1;
    }
  }
}

}  // namespace appkit
