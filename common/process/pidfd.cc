#include "common/process/pidfd.h"

#include <errno.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "absl/time/clock.h"

namespace appkit {

UniqueFd OpenPidfd(pid_t pid) {
  return UniqueFd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
}

int SignalPidfd(int pidfd, int signal) {
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0));
}

bool HasExited(int pidfd) {
  pollfd check = {pidfd, POLLIN, 0};
  return poll(&check, 1, 0) == 1;
}

bool WaitForExit(int pidfd, absl::Time deadline) {
  pollfd wait = {pidfd, POLLIN, 0};
  for (;;) {
    const int64_t left_ms = std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now()));
    const int ready = poll(&wait, 1, static_cast<int>(std::min<int64_t>(left_ms, 1 << 30)));
    if (ready >= 0 || errno != EINTR) return ready == 1;
  }
}

std::vector<pid_t> ChildPids() {
  std::vector<pid_t> pids;
  std::error_code error;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", error)) {
    std::ifstream children(task.path() / "children");
    pid_t pid;
    while (children >> pid) {
      if (pid > 0) pids.push_back(pid);
    }
  }
  return pids;
}

}  // namespace appkit
