// OpenControlPlane: finds and dlopens libappkit_control_plane.so.
#include <dlfcn.h>

#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/host/host.h"
#include "controller/control_plane.h"

namespace appkit::controller {
namespace {

using OpenFunction = decltype(&AppkitOpenControlPlane);
using ServeFunction = decltype(&AppkitServeControlPlane);

struct Plugin {
  OpenFunction open = nullptr;
  ServeFunction serve = nullptr;
};

// The plugin's entry points, loaded once and kept for the process's life
// (gRPC's threads run its code until exit).
absl::StatusOr<Plugin> LoadPlugin() {
  static std::mutex mu;
  static Plugin plugin;
  std::lock_guard<std::mutex> lock(mu);
  if (plugin.open != nullptr) return plugin;
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
  void* open = dlsym(handle, "AppkitOpenControlPlane");
  void* serve = dlsym(handle, "AppkitServeControlPlane");
  if (open == nullptr || serve == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("control-plane plugin ", *path, " has no ",
                     open == nullptr ? "AppkitOpenControlPlane" : "AppkitServeControlPlane"));
  }
  plugin.serve = reinterpret_cast<ServeFunction>(serve);
  plugin.open = reinterpret_cast<OpenFunction>(open);
  return plugin;
}

}  // namespace

absl::Status LoadControlPlanePlugin() { return LoadPlugin().status(); }

absl::StatusOr<std::unique_ptr<ControlPlane>> OpenControlPlane(PoolControl* pool,
                                                               const std::string& socket_path) {
  absl::StatusOr<Plugin> plugin = LoadPlugin();
  if (!plugin.ok()) return plugin.status();
  absl::Status status;
  ControlPlane* plane = plugin->open(pool, socket_path.c_str(), &status);
  if (plane == nullptr) return status;
  return std::unique_ptr<ControlPlane>(plane);
}

absl::StatusOr<std::unique_ptr<ControlPlane>> ServeControlPlane(PoolControl* pool,
                                                                const std::string& socket_path,
                                                                UnixListener listener) {
  absl::StatusOr<Plugin> plugin = LoadPlugin();
  if (!plugin.ok()) return plugin.status();
  return std::unique_ptr<ControlPlane>(plugin->serve(pool, socket_path.c_str(), &listener));
}

}  // namespace appkit::controller
