// ControllerService: appkit.v1.Controller over a pool (thin adapter; all
// state and decisions stay in the pool's loop). Part of the control-plane
// plugin (control_plane.h).
#ifndef APPKIT_CONTROLLER_CONTROLLER_SERVICE_H_
#define APPKIT_CONTROLLER_CONTROLLER_SERVICE_H_

#include "controller/control_plane.h"
#include "proto/controller.grpc.pb.h"

namespace appkit::controller {

class ControllerService final : public v1::Controller::Service {
 public:
  explicit ControllerService(PoolControl* pool) : pool_(pool) {}

  grpc::Status ListWorkers(grpc::ServerContext* context, const v1::ListWorkersRequest* request,
                           v1::ListWorkersResponse* response) override;
  // NOT_FOUND for an unknown worker name.
  grpc::Status RequestQuit(grpc::ServerContext* context,
                           const v1::ControllerRequestQuitRequest* request,
                           v1::ControllerRequestQuitResponse* response) override;
  grpc::Status GetDebugSnapshot(grpc::ServerContext* context,
                                const v1::GetDebugSnapshotRequest* request,
                                v1::DebugSnapshot* response) override;

 private:
  PoolControl* const pool_;
};

}  // namespace appkit::controller

#endif  // APPKIT_CONTROLLER_CONTROLLER_SERVICE_H_
