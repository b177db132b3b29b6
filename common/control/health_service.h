// HealthService: grpc.health.v1.Health served as an ordinary service.
//
// gRPC's built-in health service (EnableDefaultHealthCheckService) costs
// two threads that wake twice a second; this one costs nothing while idle.
// Check answers SERVING for "" and for every name given at construction
// (the fully qualified service names), SERVICE_UNKNOWN as NOT_FOUND for
// others. Watch sends the current status and keeps the stream open until
// the client cancels or the server shuts down. Thread-safe.
#ifndef APPKIT_COMMON_HEALTH_SERVICE_H_
#define APPKIT_COMMON_HEALTH_SERVICE_H_

#include <string>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"

namespace appkit {

class HealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  explicit HealthService(std::vector<std::string> service_names);

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  grpc::health::v1::HealthCheckResponse* response) override;

  grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request) override;

 private:
  bool Knows(const std::string& service) const;

  const std::vector<std::string> service_names_;
};

}  // namespace appkit

#endif  // APPKIT_COMMON_HEALTH_SERVICE_H_
