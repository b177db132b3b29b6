// HealthService: grpc.health.v1.Health served as an ordinary service.
//
// gRPC's built-in health service (EnableDefaultHealthCheckService) costs
// two threads that wake twice a second; this one costs nothing while idle.
// What it answers is a HealthState, which the owner sets (the guardian:
// "" SERVING only while the entry runs and is ready, "liveness" while it
// runs; SPEC §8). Unset, "" and every name given at construction (the fully
// qualified service names) are SERVING; other names are NOT_FOUND for
// Check and SERVICE_UNKNOWN for Watch. Watch sends the current status, then
// every change (the latest one when changes come faster than the client
// reads), until the client cancels or the server shuts down. Thread-safe.
#ifndef APPKIT_COMMON_HEALTH_SERVICE_H_
#define APPKIT_COMMON_HEALTH_SERVICE_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace appkit {

// The health service's answers, set by its owner from any thread; outlives
// the gRPC server that reads it (shared).
class HealthState {
 public:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;
  using Listener = std::function<void(ServingStatus)>;

  // Sets `service` SERVING or NOT_SERVING; watchers of it hear of a change.
  void Set(const std::string& service, bool serving);
  // The status set for `service`, if any.
  std::optional<ServingStatus> Get(const std::string& service) const;

  // `listener` hears every change of `service` until Unsubscribe (called
  // under the state's lock: it must not call back into the state).
  int Subscribe(const std::string& service, Listener listener);
  void Unsubscribe(int id);

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, bool> serving_ ABSL_GUARDED_BY(mu_);
  struct Watcher {
    std::string service;
    Listener listener;
  };
  std::map<int, Watcher> watchers_ ABSL_GUARDED_BY(mu_);
  int next_id_ ABSL_GUARDED_BY(mu_) = 1;
};

class HealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  HealthService(std::vector<std::string> service_names, std::shared_ptr<HealthState> state);

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  grpc::health::v1::HealthCheckResponse* response) override;

  grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request) override;

 private:
  // The status of `service` now; nullopt for an unknown one.
  std::optional<HealthState::ServingStatus> StatusOf(const std::string& service) const;

  const std::vector<std::string> service_names_;
  const std::shared_ptr<HealthState> state_;
};

}  // namespace appkit

#endif  // APPKIT_COMMON_HEALTH_SERVICE_H_
