// Process set-up shared by the binaries that run user code (executor,
// worker): logging, quit on SIGTERM, and SIGHUP to reopen outputs.
//
// SIGHUP (sent on by the guardian after logrotate moved the files) makes a
// small host thread, blocked on a self-pipe and otherwise idle, reopen
// stdout, stderr and the log files by name. The signal handlers only store
// and write(2): async-signal-safe.
#ifndef APPKIT_COMMON_HOST_H_
#define APPKIT_COMMON_HOST_H_

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "common/runtime/logging.h"

namespace appkit::internal {

struct HostConfig {
  std::string role;  // logger name: "executor", "worker:<name>"
  std::optional<LoggingConfig> logging;
  std::string stdout_filename;
  std::string stderr_filename;
  pid_t forward_quit_to = 0;  // see InstallQuitSignalHandler
};

absl::Status StartHost(const HostConfig& config);

// Runs on the host's SIGHUP thread after this process reopened its files.
// The hook only posts to its owner's loop (EventLoop::Wake, an eventfd):
// the controller's does, and its loop passes SIGHUP on to the workers.
// Replacing or clearing (nullptr) the hook waits for a running call to
// finish.
void SetHangupHook(std::function<void()> hook);

// Where the appkit binaries are: `name` is "guardian", "executor" or
// "worker". Looks in $APPKIT_BIN_DIR, then the running program's Bazel
// runfiles (Bazel's runfiles library; appkit's repository under whatever
// name the workspace gave it), then in an installed layout
// (<program dir>/../lib/appkit), then next to the running program; an
// override set by the host (the executor knows its worker binary) wins
// over all. NotFound lists every place looked at.
absl::StatusOr<std::string> FindAppkitBinary(const std::string& name);
// The same search for any installed appkit file (the control-plane plugin
// libappkit_control_plane.so): `package` is its Bazel package, where the
// runfiles hold it.
absl::StatusOr<std::string> FindAppkitFile(const std::string& name, const std::string& package);
void SetAppkitBinaryOverride(const std::string& name, const std::string& path);

// The socket StartWorkers serves appkit.v1.Controller on in this process
// ("" outside a daemon's executor).
void SetControllerSocket(const std::string& path);
std::string ControllerSocket();

// The name of the daemon this process belongs to (DaemonOptions::name; ""
// outside a daemon): StartWorkers names its processes with it.
void SetDaemonName(const std::string& name);
std::string DaemonName();

// The directory of the module whose entry this process runs: StartWorkers
// looks for worker modules there first ("" when not set).
void SetEntryModuleDir(const std::string& dir);
std::string EntryModuleDir();

}  // namespace appkit::internal

#endif  // APPKIT_COMMON_HOST_H_
