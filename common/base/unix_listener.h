// ListenUnixSocket: a control socket's listening end, without gRPC.
//
// The socket is 0600 from birth (fchmod before bind, never a chmod by
// path), bound at `path` (CheckUnixSocketPath's rules), and listening. At
// the path, a stale socket (nobody listens) is replaced; anything else is
// refused with ControlSocketPathTaken's error (common/base/socket_probe.h):
// another process's live socket is never taken over. `dev`/`ino` name the
// file bound, so that only that file is ever unlinked (UnlinkIfOurs).
// Connections wait in the backlog until someone accepts them: a server can
// bind first and serve later (a pool's plugin loads while its workers
// start).
#ifndef APPKIT_COMMON_BASE_UNIX_LISTENER_H_
#define APPKIT_COMMON_BASE_UNIX_LISTENER_H_

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"
#include "common/base/unique_fd.h"

namespace appkit {

struct UnixListener {
  UniqueFd fd;  // non-blocking, close-on-exec
  dev_t dev = 0;
  ino_t ino = 0;
};

absl::StatusOr<UnixListener> ListenUnixSocket(const std::string& path);

// Unlinks `path` if it is still the file `listener` bound (not one put
// there since).
void UnlinkIfOurs(const std::string& path, const UnixListener& listener);

}  // namespace appkit

#endif  // APPKIT_COMMON_BASE_UNIX_LISTENER_H_
