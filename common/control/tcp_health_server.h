// TcpHealthServer: grpc.health.v1.Health, and nothing else, on a TCP port
// (DaemonOptions::health_listen, SPEC §10): what kubelet's gRPC probes ask.
//
// The control services never go on TCP: this server registers only the
// health service (every other method, reflection included, is
// UNIMPLEMENTED), and answers from the HealthState its owner already keeps
// for the control socket, so both always agree ("" SERVING while the entry
// runs and is ready, "liveness" while the guardian runs; names never set
// are NOT_FOUND). Unlike the control socket, gRPC starts at once (a TCP
// listener is gRPC's own): a few idle threads, only when asked for.
// Requests are tiny and bounded like the control socket's.
#ifndef APPKIT_COMMON_CONTROL_TCP_HEALTH_SERVER_H_
#define APPKIT_COMMON_CONTROL_TCP_HEALTH_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/control/health_service.h"
#include "grpcpp/grpcpp.h"

namespace appkit {

class TcpHealthServer {
 public:
  // Listens on `address` ("host:port", checked by the caller). Fails,
  // naming the address, when it cannot listen there (in use, no such host).
  static absl::StatusOr<std::unique_ptr<TcpHealthServer>> Listen(
      const std::string& address, std::shared_ptr<HealthState> state);
  // Stops serving within a second (open Watch calls are cancelled).
  ~TcpHealthServer();
  TcpHealthServer(const TcpHealthServer&) = delete;
  TcpHealthServer& operator=(const TcpHealthServer&) = delete;

  int port() const { return port_; }

 private:
  TcpHealthServer() = default;
  std::unique_ptr<HealthService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace appkit

#endif  // APPKIT_COMMON_CONTROL_TCP_HEALTH_SERVER_H_
