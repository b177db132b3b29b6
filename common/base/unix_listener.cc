#include "common/base/unix_listener.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/base/errno_status.h"
#include "common/base/socket_probe.h"
#include "common/base/unix_socket_path.h"

namespace appkit {

absl::StatusOr<UnixListener> ListenUnixSocket(const std::string& path) {
  absl::Status path_ok = CheckUnixSocketPath(path, "control socket path");
  if (!path_ok.ok()) return path_ok;

  UnixListener listener;
  listener.fd.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listener.fd) return ErrnoStatus(errno, "cannot create control socket");
  // The file bind() creates takes its mode from the socket: set here, it is
  // 0600 from birth, whatever the umask (which other threads may rely on).
  // Never chmod by path: a symlink swapped in after bind() would redirect it.
  if (fchmod(listener.fd.get(), 0600) != 0) {
    return ErrnoStatus(errno, "cannot set the mode of control socket " + path);
  }
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path.data(), path.size());
  for (int attempt = 0;; ++attempt) {
    if (bind(listener.fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) break;
    if (errno != EADDRINUSE || attempt == 3) {
      return ErrnoStatus(errno, "cannot bind control socket " + path);
    }
    // Something is at the path (bind never follows a symlink): find out what.
    SocketProbe probe = ProbeUnixSocket(path);
    if (absl::Status taken = ControlSocketPathTaken(path, probe); !taken.ok()) return taken;
    // Removed since (bind again), or left by a process that died: nobody
    // listens. Remove that file (only that one) and bind again.
    if (probe.kind == SocketProbe::kStale) RemoveStaleUnixSocket(path);
  }
  struct stat st = {};
  if (lstat(path.c_str(), &st) != 0 || listen(listener.fd.get(), 128) != 0) {
    absl::Status status = ErrnoStatus(errno, "cannot listen on control socket " + path);
    unlink(path.c_str());
    return status;
  }
  listener.dev = st.st_dev;
  listener.ino = st.st_ino;
  return listener;
}

void UnlinkIfOurs(const std::string& path, const UnixListener& listener) {
  struct stat st;
  if (lstat(path.c_str(), &st) == 0 && st.st_dev == listener.dev && st.st_ino == listener.ino) {
    unlink(path.c_str());
  }
}

}  // namespace appkit
