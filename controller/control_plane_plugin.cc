// libappkit_control_plane.so: the gRPC side of a pool's control socket
// (see control_plane.h). Built with the gRPC service code of
// controller.proto and the control server; binds to the host binary for
// the generated messages and the appkit runtime.
#include <memory>

#include "common/control/control_server.h"
#include "controller/control_plane.h"
#include "controller/controller_service.h"

namespace appkit::controller {
namespace {

class GrpcControlPlane final : public ControlPlane {
 public:
  explicit GrpcControlPlane(PoolControl* pool)
      : service_(std::make_unique<ControllerService>(pool)) {}

  ~GrpcControlPlane() override {
    if (server_ && !server_->Stop()) {
      // gRPC may still call the service: it stays, cut from the pool.
      service_->Detach();
      service_.release();  // leaked on purpose
    }
  }

  absl::Status Listen(const std::string& path) {
    auto server =
        ControlServer::Listen(path, {{v1::Controller::service_full_name(), service_.get()}});
    if (!server.ok()) return server.status();
    server_ = std::move(*server);
    return absl::OkStatus();
  }

  void Serve(const std::string& path, UnixListener listener) {
    server_ = ControlServer::Serve(path, std::move(listener),
                                   {{v1::Controller::service_full_name(), service_.get()}});
  }

  int fd() const override { return server_->fd(); }
  int AcceptPending() override { return server_->AcceptPending(); }

 private:
  std::unique_ptr<ControllerService> service_;
  std::unique_ptr<ControlServer> server_;  // stopped before service_ goes
};

}  // namespace
}  // namespace appkit::controller

extern "C" __attribute__((visibility("default"))) appkit::controller::ControlPlane*
AppkitOpenControlPlane(appkit::controller::PoolControl* pool, const char* socket_path,
                       absl::Status* status) {
  auto plane = std::make_unique<appkit::controller::GrpcControlPlane>(pool);
  *status = plane->Listen(socket_path);
  if (!status->ok()) return nullptr;
  return plane.release();
}

extern "C" __attribute__((visibility("default"))) appkit::controller::ControlPlane*
AppkitServeControlPlane(appkit::controller::PoolControl* pool, const char* socket_path,
                        appkit::UnixListener* listener) {
  auto plane = std::make_unique<appkit::controller::GrpcControlPlane>(pool);
  plane->Serve(socket_path, std::move(*listener));
  return plane.release();
}
