#include "common/health_service.h"

#include <algorithm>

namespace appkit {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

HealthService::HealthService(std::vector<std::string> service_names)
    : service_names_(std::move(service_names)) {}

bool HealthService::Knows(const std::string& service) const {
  return service.empty() || std::find(service_names_.begin(), service_names_.end(),
                                      service) != service_names_.end();
}

grpc::ServerUnaryReactor* HealthService::Check(grpc::CallbackServerContext* context,
                                               const HealthCheckRequest* request,
                                               HealthCheckResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!Knows(request->service())) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                 "unknown service: " + request->service()));
    return reactor;
  }
  response->set_status(HealthCheckResponse::SERVING);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

namespace {

// Sends one status, then holds the stream until the client goes away.
class WatchReactor final : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  explicit WatchReactor(HealthCheckResponse::ServingStatus status) {
    response_.set_status(status);
    StartWrite(&response_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) Finish(grpc::Status::CANCELLED);
  }
  void OnCancel() override { Finish(grpc::Status::CANCELLED); }
  void OnDone() override { delete this; }

 private:
  HealthCheckResponse response_;
};

}  // namespace

grpc::ServerWriteReactor<HealthCheckResponse>* HealthService::Watch(
    grpc::CallbackServerContext* /*context*/, const HealthCheckRequest* request) {
  return new WatchReactor(Knows(request->service()) ? HealthCheckResponse::SERVING
                                                    : HealthCheckResponse::SERVICE_UNKNOWN);
}

}  // namespace appkit
