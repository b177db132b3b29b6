// ProbeUnixSocket: what is at a Unix socket path, without following it
// and without taking it over.
//
// A socket file outlives the process that bound it, so "a socket exists"
// says nothing: connecting says whether someone still listens (and, with
// SO_PEERCRED, who). Used before binding a control socket (a live one is
// another daemon's and is never replaced; a stale one is removed) and
// before removing a socket path that may be stale. gRPC-free.
#ifndef APPKIT_COMMON_SOCKET_PROBE_H_
#define APPKIT_COMMON_SOCKET_PROBE_H_

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"

namespace appkit {

struct SocketProbe {
  enum Kind {
    kAbsent,      // nothing at the path
    kNotASocket,  // a file, directory, symlink, FIFO...: never touched
    kStale,       // a socket nobody listens on (connect: ECONNREFUSED)
    kLive,        // a socket someone listens on
    kUnknown,     // cannot tell (`error`: the errno of lstat or connect)
  };
  Kind kind = kAbsent;
  pid_t server_pid = 0;  // kLive: the listener's pid (0: its backlog is full)
  int error = 0;
  dev_t dev = 0;  // the file probed (kNotASocket, kStale, kLive)
  ino_t ino = 0;
};

// Never blocks: the probe connection is non-blocking and closed at once.
SocketProbe ProbeUnixSocket(const std::string& path);

// Probes `path` and unlinks it if it is a stale socket, the very file that
// was probed. True when it removed it.
bool RemoveStaleUnixSocket(const std::string& path);

// Why a control socket cannot be bound at `path`, as `probe` found it: not
// a socket, another process's live socket, or unknown. OK when nothing or
// a stale socket is there (the binder removes a stale one).
absl::Status ControlSocketPathTaken(const std::string& path, const SocketProbe& probe);

}  // namespace appkit

#endif  // APPKIT_COMMON_SOCKET_PROBE_H_
