#include "guardian/guardian_service.h"

#include <memory>

#include "common/base/time_format.h"
#include "common/control/event_queue.h"
#include "common/control/watch_reactor.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "guardian/guardian.h"
#include "proto/controller.grpc.pb.h"

namespace appkit::guardian {
namespace {

void SetNoWorkers(v1::GuardianDebugSnapshot* response) {
  response->mutable_workers()->set_json("{\"updated_at\": \"" + appkit::FormatTime(absl::Now()) +
                                        "\", \"worker_info_list\": []}");
}

void WrapEvent(v1::Event event, v1::GuardianEvent* message) {
  *message->mutable_event() = std::move(event);
}

}  // namespace

grpc::ServerWriteReactor<v1::GuardianEvent>* GuardianService::Watch(grpc::CallbackServerContext*,
                                                                    const v1::WatchRequest*) {
  auto queue = std::make_shared<EventQueue>();
  auto* reactor = new WatchReactor<v1::GuardianEvent>(queue, &WrapEvent);
  *reactor->first()->mutable_snapshot() = guardian_->Watch(std::move(queue));
  reactor->Begin();
  return reactor;
}

grpc::ServerUnaryReactor* GuardianService::GetStatus(grpc::CallbackServerContext* context,
                                                     const v1::GetStatusRequest*,
                                                     v1::GuardianStatus* response) {
  *response = guardian_->Status();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* GuardianService::RequestQuit(grpc::CallbackServerContext* context,
                                                       const v1::GuardianRequestQuitRequest*,
                                                       v1::GuardianRequestQuitResponse* response) {
  guardian_->RequestQuitFromRpc();
  *response->mutable_status() = guardian_->Status();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* GuardianService::Restart(grpc::CallbackServerContext* context,
                                                   const v1::GuardianRestartRequest*,
                                                   v1::GuardianRestartResponse* response) {
  guardian_->RequestRestartFromRpc();
  *response->mutable_status() = guardian_->Status();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* GuardianService::GetDebugSnapshot(
    grpc::CallbackServerContext* context, const v1::GetDebugSnapshotRequest* request,
    v1::GuardianDebugSnapshot* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  *response->mutable_guardian() = guardian_->Status();
  const std::string& controller = response->guardian().controller_socket();
  if (controller.empty()) {
    SetNoWorkers(response);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  // Ask the controller without holding a thread. `request` and `response`
  // live until Finish; the client call's state until its callback ends.
  struct ControllerCall {
    std::unique_ptr<v1::Controller::Stub> stub;
    grpc::ClientContext context;
  };
  auto call = std::make_shared<ControllerCall>();
  call->stub = v1::Controller::NewStub(
      grpc::CreateChannel("unix:" + controller, grpc::InsecureChannelCredentials()));
  call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  call->stub->async()->GetDebugSnapshot(&call->context, request, response->mutable_workers(),
                                        [call, reactor, response](grpc::Status status) {
                                          if (!status.ok()) SetNoWorkers(response);
                                          reactor->Finish(grpc::Status::OK);
                                        });
  return reactor;
}

}  // namespace appkit::guardian
