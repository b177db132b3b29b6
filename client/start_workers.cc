// StartWorkers (client/appkit.h): checks every worker and option before
// anything starts, then runs the controller (controller/controller.h) on
// the calling thread.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/appkit.h"
#include "client/check_options.h"
#include "common/base/fd_io.h"
#include "common/base/fd_limit.h"
#include "common/base/log.h"
#include "common/base/safe_file.h"
#include "common/host/entry.h"
#include "common/host/host.h"
#include "common/host/option_checks.h"
#include "common/process/command.h"
#include "common/runtime/quit.h"
#include "controller/controller.h"
#include "spdlog/spdlog.h"

namespace appkit {
namespace {

std::atomic<bool> g_pool_running{false};

absl::Status Invalid(const std::string& who, const absl::Status& status) {
  return absl::InvalidArgumentError(absl::StrCat(who, ": ", status.message()));
}

absl::StatusOr<controller::ControllerConfig> BuildConfig(
    const std::vector<WorkerStartInfo>& workers, const WorkersOptions& options) {
  controller::ControllerConfig pool;
  // Durations in [0, a year] (check_interval > 0), a UTF-8 debug file name.
  if (absl::Status s = internal::CheckWorkersOptionValues(options); !s.ok()) return s;
  if (options.debug_filename) {
    if (absl::Status s = CheckOutputFile(*options.debug_filename, "debug_filename"); !s.ok()) {
      return absl::InvalidArgumentError(s.message());
    }
  }
  pool.debug_filename = options.debug_filename;
  // `appkitctl --config` names the debug file of the daemon it starts.
  if (const char* env = getenv("APPKIT_DEBUG_FILE"); !pool.debug_filename && env && *env) {
    pool.debug_filename = env;
  }
  pool.check_interval = options.check_interval;
  pool.restart_interval = options.restart_interval;
  pool.stop_timeout = options.stop_timeout;
  pool.restart_policy = options.restart_policy;

  std::vector<std::string> module_dirs;
  if (std::string dir = internal::EntryModuleDir(); !dir.empty()) module_dirs.push_back(dir);
  const std::vector<std::string> search_dirs = internal::ModuleSearchDirs(module_dirs);
  std::map<std::string, size_t> names;
  std::map<std::string, std::string> pid_files;
  for (size_t i = 0; i < workers.size(); ++i) {
    const WorkerStartInfo& info = workers[i];
    if (info.name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("worker #", i, " (entry '", info.entry, "') has an empty name"));
    }
    // A name goes into log lines, ps and cgroup names: no control bytes
    // (a newline would forge a log line).
    for (unsigned char c : info.name) {
      if (c < 0x20 || c == 0x7f) {
        return absl::InvalidArgumentError(absl::StrCat("worker #", i, " name '",
                                                       internal::EscapeBytes(info.name),
                                                       "' has a control character"));
      }
    }
    const std::string who = absl::StrCat("worker '", info.name, "'");
    // UTF-8 strings (the name first), args within kMaxArgsDepth.
    if (absl::Status s = internal::CheckWorkerValues(who, info); !s.ok()) return s;
    if (auto [it, added] = names.emplace(info.name, i); !added) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate worker name '", info.name,
                                                     "' (workers #", it->second, " and #", i, ")"));
    }
    if (info.pid_filename.empty()) {
      return absl::InvalidArgumentError(who + ": pid_filename is required");
    }
    if (auto [it, added] = pid_files.emplace(info.pid_filename, info.name); !added) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": pid file ", info.pid_filename,
                                                     " is also worker '", it->second, "''s"));
    }
    if (absl::Status s = CheckOutputFile(info.pid_filename, "pid_filename"); !s.ok()) {
      return Invalid(who, s);
    }
    if (absl::Status s = CheckOutputFile(info.stdout_filename, "stdout_filename"); !s.ok()) {
      return Invalid(who, s);
    }
    if (absl::Status s = CheckOutputFile(info.stderr_filename, "stderr_filename"); !s.ok()) {
      return Invalid(who, s);
    }
    if (info.logging_config) {
      if (absl::Status s = internal::ValidateLoggingConfig(*info.logging_config); !s.ok()) {
        return Invalid(who, s);
      }
    }
    if (info.entry.empty() == info.command.empty()) {
      return absl::InvalidArgumentError(
          info.entry.empty()
              ? who + ": entry is required (or command)"
              : absl::StrCat(who, ": entry '", info.entry, "' and command '",
                             absl::StrJoin(info.command, " "), "' are both set: give exactly one"));
    }
    CommandSpec command{info.command, info.environment, info.working_directory};
    if (info.command.empty() && (!info.environment.empty() || !info.working_directory.empty())) {
      command.argv = {"/proc/self/exe"};  // an entry's: only its environment is checked
      if (auto checked = CheckCommand(command, "WorkerStartInfo"); !checked.ok()) {
        return Invalid(who, checked.status());
      }
      command.argv.clear();
    }
    absl::StatusOr<std::string> resolved = info.command.empty()
                                               ? internal::ResolveEntry(info.entry, search_dirs)
                                               : CheckCommand(command, "WorkerStartInfo.command");
    if (!resolved.ok()) return Invalid(who, resolved.status());
    if (absl::Status s = internal::CheckUtf8Option(who + ": entry found at", *resolved); !s.ok()) {
      return s;
    }

    controller::WorkerConfig worker;
    worker.name = info.name;
    if (info.command.empty()) {
      worker.entry = info.entry;
      worker.resolved_entry = *resolved;
    } else {
      worker.entry = absl::StrJoin(info.command, " ");  // as shown in status and logs
      worker.program = *resolved;
    }
    worker.command = std::move(command);
    worker.args = info.args.proto();
    worker.logging = info.logging_config;
    worker.pid_filename = info.pid_filename;
    worker.stdout_filename = info.stdout_filename;
    worker.stderr_filename = info.stderr_filename;
    worker.ready_timeout = info.ready_timeout;
    worker.watchdog_timeout = info.watchdog_timeout;
    pool.workers.push_back(std::move(worker));
  }
  absl::StatusOr<std::string> binary = internal::FindAppkitBinary("worker");
  if (!binary.ok()) return absl::FailedPreconditionError(binary.status().message());
  pool.worker_binary = *binary;
  pool.controller_socket = internal::ControllerSocket();
  pool.user_fd_limit = FdSoftLimit();  // the controller raises its own; workers get this one
  return pool;
}

}  // namespace

absl::Status StartWorkers(const std::vector<WorkerStartInfo>& workers,
                          const WorkersOptions& options) {
  absl::StatusOr<controller::ControllerConfig> pool = BuildConfig(workers, options);
  if (!pool.ok()) return pool.status();
  if (absl::Status s = CheckFdLimit(PoolFdsNeeded(workers.size()),
                                    absl::StrCat("a pool of ", workers.size(), " workers"));
      !s.ok()) {
    return s;
  }
  if (g_pool_running.exchange(true)) {
    return absl::FailedPreconditionError(
        "StartWorkers is already running in this process (one pool per process)");
  }
  // In a process that is not an appkit host (not an executor or worker),
  // SIGTERM and SIGINT would kill the caller outright and the pool with
  // it: unless the program handles them itself, they request quit, so the
  // pool stops its workers and StartWorkers returns.
  if (!internal::QuitSignalHandlerInstalled()) {
    struct sigaction current = {};
    sigaction(SIGTERM, nullptr, &current);
    if (current.sa_handler == SIG_DFL) {
      internal::InstallQuitSignalHandler(0);
      Log().info("StartWorkers: SIGTERM and SIGINT now request quit in process {}", getpid());
    }
  }
  controller::Controller controller(std::move(*pool));
  absl::Status status = controller.Run();
  g_pool_running = false;
  return status;
}

}  // namespace appkit
