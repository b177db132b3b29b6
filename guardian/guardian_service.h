// GuardianService: appkit.v1.Guardian over a Guardian (thin adapter; all
// state and decisions stay in the Guardian's loop; statuses come from its
// published snapshot). GetDebugSnapshot adds the controller's snapshot
// when StartWorkers runs in the executor.
//
// A callback service: no handler blocks a thread (the controller is asked
// asynchronously), so a client that stalls its calls holds memory only,
// and gRPC needs no thread per call (common/control/control_server.h).
#ifndef APPKIT_GUARDIAN_GUARDIAN_SERVICE_H_
#define APPKIT_GUARDIAN_GUARDIAN_SERVICE_H_

#include "proto/guardian.grpc.pb.h"

namespace appkit::guardian {

class Guardian;

class GuardianService final : public v1::Guardian::CallbackService {
 public:
  explicit GuardianService(Guardian* guardian) : guardian_(guardian) {}

  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* context,
                                      const v1::GetStatusRequest* request,
                                      v1::GuardianStatus* response) override;
  grpc::ServerUnaryReactor* RequestQuit(grpc::CallbackServerContext* context,
                                        const v1::GuardianRequestQuitRequest* request,
                                        v1::GuardianRequestQuitResponse* response) override;
  grpc::ServerUnaryReactor* Restart(grpc::CallbackServerContext* context,
                                    const v1::GuardianRestartRequest* request,
                                    v1::GuardianRestartResponse* response) override;
  grpc::ServerUnaryReactor* GetDebugSnapshot(grpc::CallbackServerContext* context,
                                             const v1::GetDebugSnapshotRequest* request,
                                             v1::GuardianDebugSnapshot* response) override;
  // The status, then the events (common/control/watch_reactor.h).
  grpc::ServerWriteReactor<v1::GuardianEvent>* Watch(grpc::CallbackServerContext* context,
                                                     const v1::WatchRequest* request) override;

 private:
  Guardian* const guardian_;
};

}  // namespace appkit::guardian

#endif  // APPKIT_GUARDIAN_GUARDIAN_SERVICE_H_
