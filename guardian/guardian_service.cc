#include "guardian/guardian_service.h"

#include "common/time_format.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "guardian/guardian.h"
#include "proto/controller.grpc.pb.h"

namespace appkit::guardian {

grpc::Status GuardianService::GetStatus(grpc::ServerContext*, const v1::GetStatusRequest*,
                                        v1::GuardianStatus* response) {
  *response = guardian_->Status();
  return grpc::Status::OK;
}

grpc::Status GuardianService::RequestQuit(grpc::ServerContext*,
                                          const v1::GuardianRequestQuitRequest*,
                                          v1::GuardianRequestQuitResponse* response) {
  guardian_->RequestQuitFromRpc();
  *response->mutable_status() = guardian_->Status();
  return grpc::Status::OK;
}

grpc::Status GuardianService::GetDebugSnapshot(grpc::ServerContext* context,
                                               const v1::GetDebugSnapshotRequest* request,
                                               v1::GuardianDebugSnapshot* response) {
  *response->mutable_guardian() = guardian_->Status();
  const std::string& controller = response->guardian().controller_socket();
  if (!controller.empty()) {
    auto stub = v1::Controller::NewStub(
        grpc::CreateChannel("unix:" + controller, grpc::InsecureChannelCredentials()));
    grpc::ClientContext call;
    call.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    if (stub->GetDebugSnapshot(&call, *request, response->mutable_workers()).ok()) {
      return grpc::Status::OK;
    }
  }
  response->mutable_workers()->set_json(
      "{\"updated_at\": \"" + appkit::FormatTime(absl::Now()) + "\", \"worker_info_list\": []}");
  return grpc::Status::OK;
}

}  // namespace appkit::guardian
