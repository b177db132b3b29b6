// A fork server for fork_server_test: each child writes its request to
// fd 3, reports its parent and process group on fd 4, and exits with the
// request's length.
#include <stdio.h>
#include <unistd.h>

#include <string>

#include "common/fork_server.h"

int main() {
  return appkit::ServeForkRequests(3, [](const std::string& request) {
    (void)!write(3, request.data(), request.size());
    std::string ids = std::to_string(getppid()) + " " + std::to_string(getpgrp()) + " " +
                      std::to_string(getpid()) + "\n";
    (void)!write(4, ids.data(), ids.size());
    return static_cast<int>(request.size());
  });
}
