#include "controller/controller_service.h"


namespace appkit::controller {

grpc::Status ControllerService::ListWorkers(grpc::ServerContext*, const v1::ListWorkersRequest*,
                                            v1::ListWorkersResponse* response) {
  *response = pool_->ListWorkers();
  return grpc::Status::OK;
}

grpc::Status ControllerService::RequestQuit(grpc::ServerContext*,
                                            const v1::ControllerRequestQuitRequest* request,
                                            v1::ControllerRequestQuitResponse*) {
  absl::Status status = pool_->RequestQuit(request->worker_name());
  if (!status.ok()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, std::string(status.message()));
  }
  return grpc::Status::OK;
}

grpc::Status ControllerService::GetDebugSnapshot(grpc::ServerContext*,
                                                 const v1::GetDebugSnapshotRequest*,
                                                 v1::DebugSnapshot* response) {
  response->set_json(pool_->DebugSnapshotJson());
  return grpc::Status::OK;
}

}  // namespace appkit::controller
