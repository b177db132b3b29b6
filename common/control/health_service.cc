#include "common/control/health_service.h"

#include <algorithm>
#include <atomic>

namespace appkit {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

HealthService::HealthService(std::vector<std::string> service_names)
    : service_names_(std::move(service_names)) {}

bool HealthService::Knows(const std::string& service) const {
  return service.empty() ||
         std::find(service_names_.begin(), service_names_.end(), service) != service_names_.end();
}

grpc::ServerUnaryReactor* HealthService::Check(grpc::CallbackServerContext* context,
                                               const HealthCheckRequest* request,
                                               HealthCheckResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!Knows(request->service())) {
    reactor->Finish(
        grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service: " + request->service()));
    return reactor;
  }
  response->set_status(HealthCheckResponse::SERVING);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

namespace {

// Sends one status, then holds the stream until the client goes away or
// the server stops. Both of those can be told twice, in any order and on
// two threads (OnWriteDone(false) for a write that a client never read,
// and OnCancel): the stream is finished exactly once, whichever comes
// first (a second Finish aborts gRPC: callback_common.h "call_ == nullptr").
class WatchReactor final : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  explicit WatchReactor(HealthCheckResponse::ServingStatus status) {
    response_.set_status(status);
    StartWrite(&response_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) FinishOnce();
  }
  void OnCancel() override { FinishOnce(); }
  void OnDone() override { delete this; }

 private:
  void FinishOnce() {
    if (!finished_.exchange(true)) Finish(grpc::Status::CANCELLED);
  }

  HealthCheckResponse response_;
  std::atomic<bool> finished_{false};
};

}  // namespace

grpc::ServerWriteReactor<HealthCheckResponse>* HealthService::Watch(
    grpc::CallbackServerContext* /*context*/, const HealthCheckRequest* request) {
  return new WatchReactor(Knows(request->service()) ? HealthCheckResponse::SERVING
                                                    : HealthCheckResponse::SERVICE_UNKNOWN);
}

}  // namespace appkit
