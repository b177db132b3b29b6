#include "common/control/tcp_health_server.h"

#include <chrono>

#include "absl/strings/str_cat.h"

namespace appkit {

absl::StatusOr<std::unique_ptr<TcpHealthServer>> TcpHealthServer::Listen(
    const std::string& address, std::shared_ptr<HealthState> state) {
  std::unique_ptr<TcpHealthServer> server(new TcpHealthServer());
  server->service_ = std::make_unique<HealthService>(std::vector<std::string>{}, std::move(state));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &server->port_);
  builder.RegisterService(server->service_.get());
  // As the control socket's: a health request is tiny; no sync pool.
  grpc::ResourceQuota quota("appkit-health:" + address);
  quota.SetMaxThreads(2);
  quota.Resize(8 << 20);
  builder.SetResourceQuota(quota);
  builder.SetSyncServerOption(grpc::ServerBuilder::NUM_CQS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::MIN_POLLERS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::MAX_POLLERS, 1);
  builder.SetMaxReceiveMessageSize(4 * 1024);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 8);
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, 8 * 1024);
  // One daemon per port: never share it with another (SO_REUSEPORT).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  server->server_ = builder.BuildAndStart();
  if (!server->server_ || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "health_listen ", address, ": cannot listen there (address in use, or not local?)"));
  }
  return server;
}

TcpHealthServer::~TcpHealthServer() {
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

}  // namespace appkit
