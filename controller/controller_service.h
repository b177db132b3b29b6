// ControllerService: appkit.v1.Controller over a pool (thin adapter; all
// state and decisions stay in the pool's loop). Part of the control-plane
// plugin (control_plane.h).
//
// A callback service: a client that stalls its calls holds memory only,
// never a thread (common/control/control_server.h). Detach() cuts it from the pool
// for good (later calls get UNAVAILABLE), waiting for calls inside the
// pool to leave it: for a gRPC server that could not be stopped in time
// and may outlive the pool.
#ifndef APPKIT_CONTROLLER_CONTROLLER_SERVICE_H_
#define APPKIT_CONTROLLER_CONTROLLER_SERVICE_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "controller/control_plane.h"
#include "proto/controller.grpc.pb.h"

namespace appkit::controller {

class ControllerService final : public v1::Controller::CallbackService {
 public:
  explicit ControllerService(PoolControl* pool) : pool_(pool) {}

  grpc::ServerUnaryReactor* ListWorkers(grpc::CallbackServerContext* context,
                                        const v1::ListWorkersRequest* request,
                                        v1::ListWorkersResponse* response) override;
  // NOT_FOUND for an unknown worker name.
  grpc::ServerUnaryReactor* RequestQuit(grpc::CallbackServerContext* context,
                                        const v1::ControllerRequestQuitRequest* request,
                                        v1::ControllerRequestQuitResponse* response) override;
  grpc::ServerUnaryReactor* GetDebugSnapshot(grpc::CallbackServerContext* context,
                                             const v1::GetDebugSnapshotRequest* request,
                                             v1::DebugSnapshot* response) override;
  // The worker verbs (controller.h): the pool answers from its loop.
  grpc::ServerUnaryReactor* StartWorker(grpc::CallbackServerContext* context,
                                        const v1::WorkerRequest* request,
                                        v1::WorkerResponse* response) override;
  grpc::ServerUnaryReactor* RestartWorker(grpc::CallbackServerContext* context,
                                          const v1::WorkerRequest* request,
                                          v1::WorkerResponse* response) override;
  grpc::ServerUnaryReactor* AddWorker(grpc::CallbackServerContext* context,
                                      const v1::AddWorkerRequest* request,
                                      v1::WorkerResponse* response) override;
  grpc::ServerUnaryReactor* RemoveWorker(grpc::CallbackServerContext* context,
                                         const v1::WorkerRequest* request,
                                         v1::RemoveWorkerResponse* response) override;
  grpc::ServerUnaryReactor* RollingRestart(grpc::CallbackServerContext* context,
                                           const v1::RollingRestartRequest* request,
                                           v1::RollingRestartResponse* response) override;
  // The pool's status, then its events (common/control/watch_reactor.h).
  grpc::ServerWriteReactor<v1::ControllerEvent>* Watch(grpc::CallbackServerContext* context,
                                                       const v1::WatchRequest* request) override;

  void Detach();

 private:
  mutable absl::Mutex mu_;
  PoolControl* pool_ ABSL_GUARDED_BY(mu_);
};

}  // namespace appkit::controller

#endif  // APPKIT_CONTROLLER_CONTROLLER_SERVICE_H_
