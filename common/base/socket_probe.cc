#include "common/base/socket_probe.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/base/errno_status.h"
#include "common/base/unique_fd.h"

namespace appkit {

SocketProbe ProbeUnixSocket(const std::string& path) {
  SocketProbe probe;
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      probe.kind = SocketProbe::kUnknown;
      probe.error = errno;
    }
    return probe;
  }
  probe.dev = st.st_dev;
  probe.ino = st.st_ino;
  if (!S_ISSOCK(st.st_mode)) {
    probe.kind = SocketProbe::kNotASocket;
    return probe;
  }
  sockaddr_un addr = {};
  if (path.size() >= sizeof(addr.sun_path)) {
    probe.kind = SocketProbe::kUnknown;
    probe.error = ENAMETOOLONG;
    return probe;
  }
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    probe.kind = SocketProbe::kUnknown;
    probe.error = errno;
    return probe;
  }
  int rc;
  do {
    rc = connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) {
    probe.kind = SocketProbe::kLive;
    ucred cred = {};
    socklen_t len = sizeof(cred);
    if (getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
      probe.server_pid = cred.pid;
    }
    return probe;
  }
  switch (errno) {
    case ECONNREFUSED:
      probe.kind = SocketProbe::kStale;
      break;
    case EAGAIN:  // a listener whose backlog is full
      probe.kind = SocketProbe::kLive;
      break;
    case ENOENT:  // removed since the lstat
      probe.kind = SocketProbe::kAbsent;
      break;
    default:
      probe.kind = SocketProbe::kUnknown;
      probe.error = errno;
  }
  return probe;
}

bool RemoveStaleUnixSocket(const std::string& path) {
  SocketProbe probe = ProbeUnixSocket(path);
  if (probe.kind != SocketProbe::kStale) return false;
  // Only the file found stale: not one put there since.
  struct stat st;
  if (lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_dev != probe.dev ||
      st.st_ino != probe.ino) {
    return false;
  }
  return unlink(path.c_str()) == 0;
}

absl::Status ControlSocketPathTaken(const std::string& path, const SocketProbe& probe) {
  switch (probe.kind) {
    case SocketProbe::kAbsent:
    case SocketProbe::kStale:
      return absl::OkStatus();
    case SocketProbe::kNotASocket:
      return absl::AlreadyExistsError(
          absl::StrCat("control socket path ", path, " exists and is not a socket"));
    case SocketProbe::kLive:
      return absl::AlreadyExistsError(absl::StrCat(
          "control socket ", path, " is in use: ",
          probe.server_pid > 0 ? absl::StrCat("process ", probe.server_pid, " serves it")
                               : std::string("another process serves it (its backlog is full)"),
          "; give each daemon its own control socket"));
    case SocketProbe::kUnknown:
      return ErrnoStatus(probe.error, "cannot tell whether control socket " + path + " is in use");
  }
  return absl::OkStatus();
}

}  // namespace appkit
