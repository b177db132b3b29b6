// appkit: run code as a supervised Unix daemon and keep pools of named
// worker processes alive. The public C++ API (SPEC §2); target
// //client:appkit.
//
// A module (built with appkit_module from //client:defs.bzl) defines
// entries:
//
//   #include "client/appkit.h"
//   APPKIT_ENTRY(daemon_main) {
//     while (!appkit::QuitRequested()) {
//       spdlog::info("working");
//       appkit::Sleep(absl::Seconds(25));
//     }
//     return absl::OkStatus();
//   }
//
// and a launcher starts it:
//
//   appkit::DaemonOptions options;
//   options.pid_filename = "/run/demo/demo.pid";
//   options.daemon_entry = "demo:daemon_main";
//   options.restart_interval = absl::Seconds(1);
//   appkit::DaemonStartResult result = appkit::StartDaemon(options);
//
// Errors are absl::Status values or DaemonStartResult::error, with
// messages that name the file, value or option at fault. Thread-safety:
// StartDaemon may be called from any thread, concurrently (one pid file
// has one winner); QuitRequested and Sleep are safe everywhere.
#ifndef APPKIT_CLIENT_APPKIT_H_
#define APPKIT_CLIENT_APPKIT_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/args.h"
#include "common/entry_abi.h"
#include "common/logging.h"
#include "common/quit.h"
#include "spdlog/spdlog.h"

namespace appkit {

enum class DaemonRunStatus { kLaunched, kAlreadyRunning, kLaunchFailed };

struct DaemonStartResult {
  DaemonRunStatus status;
  std::optional<pid_t> pid;  // guardian pid: new one (kLaunched) or the running one (kAlreadyRunning)
  std::string error;         // why, when kLaunchFailed
};

struct DaemonOptions {
  std::string pid_filename;  // required
  std::string daemon_entry;  // required, "module:function"
  Args daemon_args;          // default: empty
  std::string stdout_filename = "/dev/null";
  std::string stderr_filename = "/dev/null";
  std::optional<LoggingConfig> logging_config;     // none: logging not initialised
  std::optional<absl::Duration> restart_interval;  // none: never restart the executor
  std::string control_socket;                      // empty: pid_filename + ".sock"
  std::optional<absl::Duration> stop_timeout = absl::Seconds(10);  // then SIGKILL; none: wait forever
};

// Starts the daemon and returns once its guardian owns the pid file and
// serves the control socket (kLaunched), or another guardian already does
// (kAlreadyRunning), or it cannot start (kLaunchFailed, nothing left
// behind). Does not wait for the entry to run.
DaemonStartResult StartDaemon(const DaemonOptions& options);

}  // namespace appkit

#endif  // APPKIT_CLIENT_APPKIT_H_
