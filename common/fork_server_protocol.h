// The request format between ForkServer (fork_server.cc, the client) and
// ServeForkRequests (serve_fork_requests.cc, the server): private to
// those two files (see fork_server.h for the protocol's contract).
//
// One request is one SOCK_SEQPACKET message: a RequestHeader, with fds
// attached (SCM_RIGHTS): the request bytes in a memfd (any size), the
// child's "go" socket, the `fd_count` fds to install, then the cgroup when
// `has_cgroup`. The answer is an int64: the child's pid, or -errno when
// the server could not fork.
#ifndef APPKIT_COMMON_FORK_SERVER_PROTOCOL_H_
#define APPKIT_COMMON_FORK_SERVER_PROTOCOL_H_

#include <sys/socket.h>

#include <cstdint>

namespace appkit::fork_server_protocol {

inline constexpr int kMaxFds = 8;
// The supervisor's pid, for a server whose parent may already be gone.
inline constexpr char kSupervisorEnv[] = "APPKIT_FORK_SERVER_SUPERVISOR";

// The fixed part of a request.
struct RequestHeader {
  uint32_t fd_count;  // fds to install (after the memfd and the go socket)
  int32_t targets[kMaxFds];
  uint32_t has_cgroup;  // 1: one more fd follows, the cgroup to start the child in
};

inline constexpr int kFixedFds = 2;  // the memfd and the go socket

union ControlBuffer {
  char buffer[CMSG_SPACE(sizeof(int) * (kMaxFds + kFixedFds + 1))];
  cmsghdr align;
};

}  // namespace appkit::fork_server_protocol

#endif  // APPKIT_COMMON_FORK_SERVER_PROTOCOL_H_
