// A fork server for fork_server_test: each child writes its request to
// fd 3, reports its parent and process group on fd 4, and exits with the
// request's length. The request "cgroup" writes /proc/self/cgroup to fd 3
// instead (cgroup_test).
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <string>

#include "common/fd_io.h"
#include "common/fork_server.h"
#include "proto/wire.h"

int main() {
  return appkit::ServeForkRequests(appkit::wire::kForkServerFd, [](const std::string& request) {
    if (request == "cgroup") {
      int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
      std::string text = appkit::ReadAll(fd).value_or("");
      (void)!write(3, text.data(), text.size());
      return 0;
    }
    (void)!write(3, request.data(), request.size());
    std::string ids = std::to_string(getppid()) + " " + std::to_string(getpgrp()) + " " +
                      std::to_string(getpid()) + "\n";
    (void)!write(4, ids.data(), ids.size());
    return static_cast<int>(request.size());
  });
}
