// ControlSocket: the controller socket (appkit.v1.Controller) in the
// controller's loop: the control-plane plugin listening (control_plane.h)
// and an AcceptWatch over it (common/process/accept_watch.h), as the guardian
// does for its socket.
//
// Loop thread only.
#ifndef APPKIT_CONTROLLER_CONTROL_SOCKET_H_
#define APPKIT_CONTROLLER_CONTROL_SOCKET_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/process/accept_watch.h"
#include "common/process/event_loop.h"
#include "controller/control_plane.h"

namespace appkit::controller {

class ControlSocket {
 public:
  // Serves `pool` on `listener` (bound at `path` by ListenUnixSocket)
  // until destroyed. nullptr, and the socket unlinked, when the plugin
  // cannot be loaded (logged: the controller then runs without its
  // socket, supervising matters more).
  static absl::StatusOr<std::unique_ptr<ControlSocket>> Serve(EventLoop* loop, PoolControl* pool,
                                                              const std::string& path,
                                                              UnixListener listener);
  // Stops accepting, unlinks the socket and stops gRPC (bounded).
  ~ControlSocket();

 private:
  ControlSocket() = default;
  std::unique_ptr<ControlPlane> plane_;
  std::unique_ptr<AcceptWatch> accept_;  // of plane_
};

}  // namespace appkit::controller

#endif  // APPKIT_CONTROLLER_CONTROL_SOCKET_H_
