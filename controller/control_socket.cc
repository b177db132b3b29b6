#include "controller/control_socket.h"

#include <unistd.h>

#include "common/base/log.h"

namespace appkit::controller {

absl::StatusOr<std::unique_ptr<ControlSocket>> ControlSocket::Serve(EventLoop* loop,
                                                                    PoolControl* pool,
                                                                    const std::string& path,
                                                                    UnixListener listener) {
  if (absl::Status plugin = LoadControlPlanePlugin(); !plugin.ok()) {
    UnlinkIfOurs(path, listener);  // nobody would ever answer there
    Log().error("controller {}: {}; the pool runs without its control socket {}", getpid(),
                std::string(plugin.message()), path);
    return nullptr;
  }
  std::unique_ptr<ControlSocket> socket(new ControlSocket());
  absl::StatusOr<std::unique_ptr<ControlPlane>> plane =
      ServeControlPlane(pool, path, std::move(listener));
  if (!plane.ok()) return plane.status();
  socket->plane_ = std::move(*plane);
  ControlPlane* raw = socket->plane_.get();
  absl::StatusOr<std::unique_ptr<AcceptWatch>> accept =
      AcceptWatch::Start(loop, raw->fd(), path, [raw] { return raw->AcceptPending(); });
  if (!accept.ok()) return accept.status();
  socket->accept_ = std::move(*accept);
  return socket;
}

ControlSocket::~ControlSocket() {
  accept_.reset();
  plane_.reset();
}

}  // namespace appkit::controller
