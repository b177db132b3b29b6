#include "common/control/health_service.h"

#include <algorithm>
#include <atomic>
#include <utility>

namespace appkit {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

void HealthState::Set(const std::string& service, bool serving) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = serving_.emplace(service, serving);
  if (!inserted && it->second == serving) return;
  it->second = serving;
  const ServingStatus status =
      serving ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
  for (auto& [id, watcher] : watchers_) {
    if (watcher.service == service) watcher.listener(status);
  }
}

std::optional<HealthState::ServingStatus> HealthState::Get(const std::string& service) const {
  absl::MutexLock lock(&mu_);
  auto it = serving_.find(service);
  if (it == serving_.end()) return std::nullopt;
  return it->second ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
}

int HealthState::Subscribe(const std::string& service, Listener listener) {
  absl::MutexLock lock(&mu_);
  const int id = next_id_++;
  watchers_[id] = Watcher{service, std::move(listener)};
  return id;
}

void HealthState::Unsubscribe(int id) {
  absl::MutexLock lock(&mu_);
  watchers_.erase(id);
}

HealthService::HealthService(std::vector<std::string> service_names,
                             std::shared_ptr<HealthState> state)
    : service_names_(std::move(service_names)),
      state_(state ? std::move(state) : std::make_shared<HealthState>()) {}

std::optional<HealthState::ServingStatus> HealthService::StatusOf(
    const std::string& service) const {
  if (auto set = state_->Get(service)) return set;
  if (service.empty() ||
      std::find(service_names_.begin(), service_names_.end(), service) != service_names_.end()) {
    return HealthCheckResponse::SERVING;
  }
  return std::nullopt;
}

grpc::ServerUnaryReactor* HealthService::Check(grpc::CallbackServerContext* context,
                                               const HealthCheckRequest* request,
                                               HealthCheckResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const std::optional<HealthState::ServingStatus> status = StatusOf(request->service());
  if (!status) {
    reactor->Finish(
        grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service: " + request->service()));
    return reactor;
  }
  response->set_status(*status);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

namespace {

// Sends the status, then each change, and holds the stream until the
// client goes away or the server stops. Both of those can be told twice,
// in any order and on two threads (OnWriteDone(false) for a write that a
// client never read, and OnCancel): the stream is finished exactly once,
// whichever comes first (a second Finish aborts gRPC: callback_common.h
// "call_ == nullptr"). One write at a time: a change that comes while one
// is in flight is sent after it (the latest only).
class WatchReactor final : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  WatchReactor(std::shared_ptr<HealthState> state, const std::string& service,
               std::function<HealthCheckResponse::ServingStatus()> current)
      : state_(std::move(state)) {
    // Not under mu_: the state calls listeners under its own lock, which
    // then take mu_ (one lock order).
    id_ = state_->Subscribe(service,
                            [this](HealthCheckResponse::ServingStatus status) { Send(status); });
    Send(current());
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      FinishOnce();
      return;
    }
    std::optional<HealthCheckResponse::ServingStatus> next;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      next = std::exchange(pending_, std::nullopt);
    }
    if (next) Send(*next);
  }
  void OnCancel() override { FinishOnce(); }
  void OnDone() override {
    state_->Unsubscribe(id_);  // waits for a change being told to us
    delete this;
  }

 private:
  // StartWrite outside mu_: gRPC may run OnWriteDone inline.
  void Send(HealthCheckResponse::ServingStatus status) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_.load()) return;
      if (writing_) {
        pending_ = status;
        return;
      }
      if (sent_ && *sent_ == status) return;
      sent_ = status;
      writing_ = true;
      response_.set_status(status);  // not touched again until OnWriteDone
    }
    StartWrite(&response_);
  }
  void FinishOnce() {
    if (!finished_.exchange(true)) Finish(grpc::Status::CANCELLED);
  }

  const std::shared_ptr<HealthState> state_;
  int id_ = 0;
  absl::Mutex mu_;
  HealthCheckResponse response_;  // written under mu_ while no write is in flight
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<HealthCheckResponse::ServingStatus> pending_ ABSL_GUARDED_BY(mu_);
  std::optional<HealthCheckResponse::ServingStatus> sent_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> finished_{false};
};

}  // namespace

grpc::ServerWriteReactor<HealthCheckResponse>* HealthService::Watch(
    grpc::CallbackServerContext* /*context*/, const HealthCheckRequest* request) {
  const std::string service = request->service();
  return new WatchReactor(state_, service, [this, service] {
    return StatusOf(service).value_or(HealthCheckResponse::SERVICE_UNKNOWN);
  });
}

}  // namespace appkit
