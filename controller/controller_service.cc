#include "controller/controller_service.h"

#include <memory>

#include "common/control/event_queue.h"
#include "common/control/watch_reactor.h"

namespace appkit::controller {
namespace {

const grpc::Status& Detached() {
  static const grpc::Status* status =
      new grpc::Status(grpc::StatusCode::UNAVAILABLE, "the worker pool has stopped");
  return *status;
}

grpc::ServerUnaryReactor* FinishWith(grpc::CallbackServerContext* context,
                                     const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

void WrapEvent(v1::Event event, v1::ControllerEvent* message) {
  *message->mutable_event() = std::move(event);
}

// A Watch refused at once (the pool has stopped).
class RefusedWatch final : public grpc::ServerWriteReactor<v1::ControllerEvent> {
 public:
  explicit RefusedWatch(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerWriteReactor<v1::ControllerEvent>* ControllerService::Watch(
    grpc::CallbackServerContext*, const v1::WatchRequest*) {
  absl::ReaderMutexLock lock(&mu_);
  if (pool_ == nullptr) return new RefusedWatch(Detached());
  auto queue = std::make_shared<EventQueue>();
  auto* reactor = new WatchReactor<v1::ControllerEvent>(queue, &WrapEvent);
  *reactor->first()->mutable_snapshot() = pool_->Watch(std::move(queue));
  reactor->Begin();
  return reactor;
}

void ControllerService::Detach() {
  absl::WriterMutexLock lock(&mu_);
  pool_ = nullptr;
}

grpc::ServerUnaryReactor* ControllerService::ListWorkers(grpc::CallbackServerContext* context,
                                                         const v1::ListWorkersRequest*,
                                                         v1::ListWorkersResponse* response) {
  absl::ReaderMutexLock lock(&mu_);
  if (pool_ == nullptr) return FinishWith(context, Detached());
  *response = pool_->ListWorkers();
  return FinishWith(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* ControllerService::RequestQuit(
    grpc::CallbackServerContext* context, const v1::ControllerRequestQuitRequest* request,
    v1::ControllerRequestQuitResponse*) {
  absl::ReaderMutexLock lock(&mu_);
  if (pool_ == nullptr) return FinishWith(context, Detached());
  absl::Status status = pool_->RequestQuit(request->worker_name());
  if (!status.ok()) {
    return FinishWith(context,
                      grpc::Status(grpc::StatusCode::NOT_FOUND, std::string(status.message())));
  }
  return FinishWith(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* ControllerService::GetDebugSnapshot(grpc::CallbackServerContext* context,
                                                              const v1::GetDebugSnapshotRequest*,
                                                              v1::DebugSnapshot* response) {
  absl::ReaderMutexLock lock(&mu_);
  if (pool_ == nullptr) return FinishWith(context, Detached());
  response->set_json(pool_->DebugSnapshotJson());
  return FinishWith(context, grpc::Status::OK);
}

}  // namespace appkit::controller
