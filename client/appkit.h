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
// Inside an entry, a pool of workers:
//
//   appkit::WorkerStartInfo worker;
//   worker.name = "worker-1";
//   worker.entry = "demo:worker_main";
//   worker.pid_filename = "/run/demo/worker-1.pid";
//   return appkit::StartWorkers({worker}, appkit::WorkersOptions{});
//
// Errors are absl::Status values or DaemonStartResult::error, with
// messages that name the file, value or option at fault. Thread-safety:
// StartDaemon may be called from any thread, concurrently (one pid file
// has one winner); StartWorkers runs one pool per process, on the calling
// thread; QuitRequested and Sleep are safe everywhere.
#ifndef APPKIT_CLIENT_APPKIT_H_
#define APPKIT_CLIENT_APPKIT_H_

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/runtime/args.h"
#include "common/runtime/entry_abi.h"
#include "common/runtime/logging.h"
#include "common/runtime/quit.h"
#include "common/runtime/supervision.h"
#include "spdlog/spdlog.h"

namespace appkit {

enum class DaemonRunStatus { kLaunched, kAlreadyRunning, kLaunchFailed };

struct DaemonStartResult {
  DaemonRunStatus status;
  std::optional<pid_t>
      pid;            // guardian pid: new one (kLaunched) or the running one (kAlreadyRunning)
  std::string error;  // why, when kLaunchFailed
};

struct DaemonOptions {
  std::string pid_filename;  // required
  std::string daemon_entry;  // required, "module:function"
  Args daemon_args;          // default: empty
  // "/dev/stdout" / "/dev/stderr", exactly so: the caller's own fd 1 / 2,
  // passed down as it is (a pipe or socket too; common/process/stdio_files.h).
  std::string stdout_filename = "/dev/null";
  std::string stderr_filename = "/dev/null";
  std::optional<LoggingConfig> logging_config;     // none: logging not initialised
  std::optional<absl::Duration> restart_interval;  // none: never restart the executor
  std::string control_socket;                      // empty: pid_filename + ".sock"
  std::optional<absl::Duration> stop_timeout =
      absl::Seconds(10);         // then SIGKILL; none: wait forever
  std::string name;              // in ps and logs; empty: the pid file's name without ".pid"
  RestartPolicy restart_policy;  // SPEC §8; the default: fixed interval, no limit
  std::optional<absl::Duration> ready_timeout;     // none: ready when the entry starts; set: the
                                                   // entry must call NotifyReady() in time
  bool wait_ready = false;                         // StartDaemon returns once the entry is ready
                                                   // (kLaunched) or failed before (kLaunchFailed)
  std::optional<absl::Duration> watchdog_timeout;  // none: off; set: an entry that does not call
                                                   // Heartbeat() this long is killed, restarted
  // SPEC §10: exactly one of daemon_entry or command. A command is any
  // executable with its argv (argv[0] looked for in the PATH when it has
  // no '/'), run with the inherited environment plus `environment`, in
  // `working_directory` (empty: the starter's, as for an entry). It gets NOTIFY_SOCKET
  // (sd_notify: READY=1, WATCHDOG=1, STATUS=, STOPPING=1); quit is SIGTERM
  // to its process group.
  std::vector<std::string> command;
  std::map<std::string, std::string> environment;  // entries and commands alike
  std::string working_directory;
  std::string health_listen;  // "host:port": also serve grpc.health.v1 (only) over TCP, for
                              // kubelet gRPC probes (SPEC §10); empty: no TCP port
};

// Starts the daemon and returns once its guardian owns the pid file and
// serves the control socket (kLaunched), or another guardian already does
// (kAlreadyRunning), or it cannot start (kLaunchFailed, nothing left
// behind). Does not wait for the entry to run.
// Limits (here and in StartWorkers; errors name the option): durations
// from 0 to 365 days; paths, names, entries and args strings in UTF-8;
// args nested at most kMaxArgsDepth (32) deep; a hard RLIMIT_NOFILE of at
// least 32 (appkit raises its own processes' soft limit; the entry and the
// workers keep their starter's).
DaemonStartResult StartDaemon(const DaemonOptions& options);

// Foreground mode (SPEC §10): runs the daemon without detaching (a
// container's PID 1, a systemd Type=notify service) and returns once it
// ended: the status to exit with, the last entry run's exit code or 128+N
// when signal N ended it (1 when no entry ever ran). Meanwhile the calling
// thread forwards SIGTERM, SIGINT and SIGHUP to the daemon, and reaps
// every child of this process (it is made a child subreaper; as PID 1 it
// gets every orphan); with NOTIFY_SOCKET set it tells systemd READY=1 when
// the entry is ready, STOPPING=1, and WATCHDOG=1 when WATCHDOG_USEC is set.
// An empty pid_filename is allowed: a private directory holds the pid file
// and sockets while it runs. Errors (bad options, the daemon already
// running, a guardian that could not start) name the culprit, and leave
// nothing behind. Call it from the main thread before other threads exist
// (or with those signals blocked in all of them); it restores the signal
// mask, the subreaper flag and the environment it had before.
absl::StatusOr<int> RunDaemon(const DaemonOptions& options);

struct WorkerStartInfo {
  std::string pid_filename;  // required
  std::string entry;         // required, "module:function"
  std::string name;          // required, unique in one StartWorkers call
  Args args;
  std::optional<LoggingConfig> logging_config;
  // As in DaemonOptions; the caller is the pool (its fds are the daemon's).
  std::string stdout_filename = "/dev/null";
  std::string stderr_filename = "/dev/null";
  std::optional<absl::Duration> ready_timeout;     // as in DaemonOptions
  std::optional<absl::Duration> watchdog_timeout;  // as in DaemonOptions
  std::vector<std::string> command;                // as in DaemonOptions: entry or command
  std::map<std::string, std::string> environment;  // as in DaemonOptions
  std::string working_directory;                   // as in DaemonOptions
};

struct WorkersOptions {
  std::optional<std::string> debug_filename;  // none: $APPKIT_DEBUG_FILE if set, else no file
  absl::Duration check_interval = absl::Minutes(1);
  std::optional<absl::Duration> restart_interval = absl::Minutes(5);  // none: never restart
  std::optional<absl::Duration> stop_timeout = absl::Seconds(10);     // per worker, then SIGKILL
  RestartPolicy restart_policy;  // per worker (SPEC §8); the default: fixed interval, no limit
};

// Runs a pool of named worker processes until quit is requested (SIGTERM,
// a RequestQuit over the control plane), then asks every worker to quit,
// waits for all of them (SIGKILL after stop_timeout) and returns OK.
// Usually called from inside a daemon entry, where the pool also serves
// appkit.v1.Controller; any process may call it, one pool at a time (in a
// plain process whose SIGTERM/SIGINT are at their default, they then
// request quit instead of killing it).
// Bad input (empty or duplicate names, a bad entry, a missing directory, a
// negative interval) returns InvalidArgument naming the culprit before
// any worker starts; a hard RLIMIT_NOFILE too low for the pool (two fds
// per worker) returns FailedPrecondition naming it. Worker modules are looked for in the directory
// of the calling entry's module first, then as for StartDaemon.
absl::Status StartWorkers(const std::vector<WorkerStartInfo>& workers,
                          const WorkersOptions& options);

}  // namespace appkit

#endif  // APPKIT_CLIENT_APPKIT_H_
