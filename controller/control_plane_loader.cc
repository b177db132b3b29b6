// OpenControlPlane: finds and dlopens libappkit_control_plane.so.
#include <dlfcn.h>

#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/host/host.h"
#include "controller/control_plane.h"

namespace appkit::controller {
namespace {

using OpenFunction = decltype(&AppkitOpenControlPlane);

// The plugin's entry point, loaded once and kept for the process's life
// (gRPC's threads run its code until exit).
absl::StatusOr<OpenFunction> LoadPlugin() {
  static std::mutex mu;
  static OpenFunction open = nullptr;
  std::lock_guard<std::mutex> lock(mu);
  if (open != nullptr) return open;
  absl::StatusOr<std::string> path =
      internal::FindAppkitFile(kControlPlanePlugin, /*package=*/"controller");
  if (!path.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot serve the worker pool's control socket: ", path.status().message()));
  }
  void* handle = dlopen(path->c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot load the control-plane plugin ", *path, ": ", dlerror()));
  }
  void* symbol = dlsym(handle, "AppkitOpenControlPlane");
  if (symbol == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("control-plane plugin ", *path, " has no AppkitOpenControlPlane"));
  }
  open = reinterpret_cast<OpenFunction>(symbol);
  return open;
}

}  // namespace

absl::Status LoadControlPlanePlugin() { return LoadPlugin().status(); }

absl::StatusOr<std::unique_ptr<ControlPlane>> OpenControlPlane(PoolControl* pool,
                                                               const std::string& socket_path) {
  absl::StatusOr<OpenFunction> open = LoadPlugin();
  if (!open.ok()) return open.status();
  absl::Status status;
  ControlPlane* plane = (*open)(pool, socket_path.c_str(), &status);
  if (plane == nullptr) return status;
  return std::unique_ptr<ControlPlane>(plane);
}

}  // namespace appkit::controller
