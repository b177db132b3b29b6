// ControlServer: appkit's gRPC control plane on a Unix socket it owns.
//
// The socket is bound by appkit itself (not by gRPC) so that:
//   - it is created mode 0600 and only the owner (or root) can connect;
//     every accepted peer is also checked with SO_PEERCRED, and a peer of
//     another uid is refused and logged;
//   - accepting is an ordinary readable fd in the owner's event loop;
//   - gRPC is started only on the first connection, so an idle
//     supervisor that nobody queries pays no gRPC threads or wake-ups.
// Accepted connections are handed to gRPC with AddInsecureChannelFromFd.
// Every server also serves grpc.health.v1.Health (SERVING for "" and each
// registered service) and gRPC server reflection.
//
// Usage (single owner thread; gRPC handlers run on gRPC's own threads):
//   auto server = ControlServer::Listen(
//       path, {{appkit::v1::Guardian::service_full_name(), &guardian_service}});
//   loop.Watch((*server)->fd(), [&] { (*server)->AcceptPending(); });
//   ...
//   server->reset();  // stops gRPC, closes and unlinks the socket
//
// Precondition for Listen: the caller owns `path` (for example it holds
// the pid-file lock of the daemon), because a stale socket there is
// unlinked first.
#ifndef APPKIT_COMMON_CONTROL_SERVER_H_
#define APPKIT_COMMON_CONTROL_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/health_service.h"
#include "common/unix_socket_path.h"
#include "common/unique_fd.h"
#include "grpcpp/server.h"

namespace appkit {

// One service to serve, and its full name (for the health service), e.g.
// {appkit::v1::Guardian::service_full_name(), &guardian_service}.
struct NamedService {
  std::string name;
  grpc::Service* service;
};

class ControlServer {
 public:
  // `services` must outlive the ControlServer; their names are reported
  // SERVING by the health service.
  static absl::StatusOr<std::unique_ptr<ControlServer>> Listen(
      const std::string& path, std::vector<NamedService> services);

  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // The listening socket: readable when a client connects.
  int fd() const { return listen_fd_.get(); }
  const std::string& path() const { return path_; }

  // Accepts every pending connection (never blocks).
  void AcceptPending();

  // Number of connections refused because of the peer's uid.
  int refused_peers() const { return refused_peers_; }

 private:
  ControlServer(std::string path, UniqueFd listen_fd, std::vector<NamedService> services);
  bool StartGrpc();

  const std::string path_;
  UniqueFd listen_fd_;
  std::vector<NamedService> services_;
  std::unique_ptr<HealthService> health_;
  std::unique_ptr<grpc::Server> server_;
  int refused_peers_ = 0;
};

}  // namespace appkit

#endif  // APPKIT_COMMON_CONTROL_SERVER_H_
