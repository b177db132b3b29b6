// ControlPlane: the appkit.v1.Controller socket of a worker pool, as its
// loop sees it (an fd to watch and a call to accept), without gRPC.
//
// The gRPC side lives in a plugin, libappkit_control_plane.so
// (control_plane_plugin.cc), that OpenControlPlane loads with dlopen the
// first time a pool serves a socket. So the executor and worker binaries
// do not load gRPC's ~20 shared libraries when they start (about 7 ms of
// every daemon start), and only a pool that serves its socket pays for it.
// The plugin binds to the host binary's copy of the generated messages and
// of the appkit runtime (exported with -rdynamic; it carries neither), like
// a module does: one copy per process.
//
// Contract: OpenControlPlane listens on `socket_path` (0600, peers checked,
// never another process's live socket, bounded; see
// common/control/control_server.h) and serves `pool` until the returned object is
// destroyed, which unlinks the socket and stops gRPC within a bounded time
// (if gRPC does not stop in time, it is cut from `pool` and left behind).
// `pool` must outlive it. Called on the pool's loop thread; PoolControl
// methods are called on gRPC's threads.
#ifndef APPKIT_CONTROLLER_CONTROL_PLANE_H_
#define APPKIT_CONTROLLER_CONTROL_PLANE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/base/unix_listener.h"
#include "common/control/event_queue.h"
#include "proto/controller.pb.h"

namespace appkit::controller {

// What the Controller service may ask of a pool (any thread).
class PoolControl {
 public:
  virtual v1::ListWorkersResponse ListWorkers() const = 0;
  virtual std::string DebugSnapshotJson() const = 0;
  // Empty name: the whole pool. NotFound for an unknown name.
  virtual absl::Status RequestQuit(const std::string& worker_name) = 0;
  // Subscribes `queue` to the pool's events (Controller.Watch); returns
  // the snapshot they follow.
  virtual v1::ListWorkersResponse Watch(std::shared_ptr<EventQueue> queue) = 0;

  // The worker verbs (SPEC §9): posted to the pool's loop, never waited
  // for; `done` is called once, on the loop thread (or at once with
  // UNAVAILABLE once the pool has stopped), with the error's code meant
  // for the client (NOT_FOUND, FAILED_PRECONDITION, INVALID_ARGUMENT,
  // ALREADY_EXISTS, ABORTED). Each is documented in controller.h.
  using WorkerDone = std::function<void(absl::StatusOr<v1::WorkerStatus>)>;
  virtual void StartWorker(const std::string& name, WorkerDone done) = 0;
  virtual void RestartWorker(const std::string& name, WorkerDone done) = 0;
  virtual void AddWorker(const v1::WorkerSpec& spec, WorkerDone done) = 0;
  virtual void RemoveWorker(const std::string& name, std::function<void(absl::Status)> done) = 0;
  virtual void RollingRestart(
      std::function<void(absl::StatusOr<std::vector<std::string>>)> done) = 0;

 protected:
  ~PoolControl() = default;
};

class ControlPlane {
 public:
  virtual ~ControlPlane() = default;
  // The listening socket: readable when a client connects.
  virtual int fd() const = 0;
  // Accepts every pending connection (never blocks): 0, or the errno that
  // stopped accept() (see ControlServer::AcceptPending; give it to an
  // AcceptWatch, which backs off).
  virtual int AcceptPending() = 0;
};

// The plugin's file name; found like the appkit binaries (common/host/host.h).
inline constexpr char kControlPlanePlugin[] = "libappkit_control_plane.so";

// Finds and loads the plugin (once per process; later calls are free).
// FailedPrecondition naming the plugin and where it was looked for when it
// cannot be found or loaded. A pool that gets this logs it and runs
// without its socket: supervising the workers matters more.
absl::Status LoadControlPlanePlugin();

// Loads the plugin and listens: the errors of LoadControlPlanePlugin, or
// those of ControlServer::Listen (which keep their codes).
absl::StatusOr<std::unique_ptr<ControlPlane>> OpenControlPlane(PoolControl* pool,
                                                               const std::string& socket_path);

// Loads the plugin and serves on `listener` (bound at `socket_path` by
// ListenUnixSocket): only the errors of LoadControlPlanePlugin.
absl::StatusOr<std::unique_ptr<ControlPlane>> ServeControlPlane(PoolControl* pool,
                                                                const std::string& socket_path,
                                                                UnixListener listener);

}  // namespace appkit::controller

// The plugin's one entry point (C linkage, looked up with dlsym). Returns
// a new ControlPlane, or nullptr with *status set to why.
extern "C" appkit::controller::ControlPlane* AppkitOpenControlPlane(
    appkit::controller::PoolControl* pool, const char* socket_path, absl::Status* status);
// The same on a socket bound already; takes `listener`'s fd. Never fails.
extern "C" appkit::controller::ControlPlane* AppkitServeControlPlane(
    appkit::controller::PoolControl* pool, const char* socket_path, appkit::UnixListener* listener);

#endif  // APPKIT_CONTROLLER_CONTROL_PLANE_H_
