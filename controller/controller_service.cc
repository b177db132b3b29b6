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

// absl and gRPC status codes have the same numbers.
grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

PoolControl::WorkerDone AnswerWith(grpc::ServerUnaryReactor* reactor,
                                   v1::WorkerResponse* response) {
  return [reactor, response](absl::StatusOr<v1::WorkerStatus> worker) {
    if (worker.ok()) *response->mutable_worker() = *std::move(worker);
    reactor->Finish(ToGrpc(worker.status()));
  };
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

grpc::ServerUnaryReactor* ControllerService::StartWorker(grpc::CallbackServerContext* context,
                                                         const v1::WorkerRequest* request,
                                                         v1::WorkerResponse* response) {
  absl::ReaderMutexLock lock(&mu_);
  if (pool_ == nullptr) return FinishWith(context, Detached());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  pool_->StartWorker(request->worker_name(), AnswerWith(reactor, response));
  return reactor;
}

grpc::ServerUnaryReactor* ControllerService::RestartWorker(grpc::CallbackServerContext* context,
                                                           const v1::WorkerRequest* request,
                                                           v1::WorkerResponse* response) {
  absl::ReaderMutexLock lock(&mu_);
  if (pool_ == nullptr) return FinishWith(context, Detached());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  pool_->RestartWorker(request->worker_name(), AnswerWith(reactor, response));
  return reactor;
}

grpc::ServerUnaryReactor* ControllerService::AddWorker(grpc::CallbackServerContext* context,
                                                       const v1::AddWorkerRequest* request,
                                                       v1::WorkerResponse* response) {
  absl::ReaderMutexLock lock(&mu_);
  if (pool_ == nullptr) return FinishWith(context, Detached());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  pool_->AddWorker(request->spec(), AnswerWith(reactor, response));
  return reactor;
}

grpc::ServerUnaryReactor* ControllerService::RemoveWorker(grpc::CallbackServerContext* context,
                                                          const v1::WorkerRequest* request,
                                                          v1::RemoveWorkerResponse*) {
  absl::ReaderMutexLock lock(&mu_);
  if (pool_ == nullptr) return FinishWith(context, Detached());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  pool_->RemoveWorker(request->worker_name(),
                      [reactor](absl::Status status) { reactor->Finish(ToGrpc(status)); });
  return reactor;
}

grpc::ServerUnaryReactor* ControllerService::RollingRestart(grpc::CallbackServerContext* context,
                                                            const v1::RollingRestartRequest*,
                                                            v1::RollingRestartResponse* response) {
  absl::ReaderMutexLock lock(&mu_);
  if (pool_ == nullptr) return FinishWith(context, Detached());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  pool_->RollingRestart([reactor, response](absl::StatusOr<std::vector<std::string>> restarted) {
    if (restarted.ok()) {
      for (std::string& name : *restarted) response->add_restarted(std::move(name));
    }
    reactor->Finish(ToGrpc(restarted.status()));
  });
  return reactor;
}

}  // namespace appkit::controller
