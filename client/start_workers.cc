// StartWorkers (client/appkit.h): checks every worker and option before
// anything starts, then runs the controller (controller/controller.h) on
// the calling thread.
#include <errno.h>
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
#include "common/process/stdio_files.h"
#include "common/runtime/quit.h"
#include "controller/controller.h"
#include "spdlog/spdlog.h"

namespace appkit {
namespace {

std::atomic<bool> g_pool_running{false};

absl::Status Invalid(const std::string& who, const absl::Status& status) {
  return absl::InvalidArgumentError(absl::StrCat(who, ": ", status.message()));
}

// The checks of one worker that do not look at the others: its name (not
// empty, no control bytes), its values (UTF-8, args depth).
absl::Status CheckWorkerName(const WorkerStartInfo& info, size_t i) {
  if (info.name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker #", i, " (entry '", info.entry, "') has an empty name"));
  }
  // A name goes into log lines, ps and cgroup names: no control bytes
  // (a newline would forge a log line).
  for (unsigned char c : info.name) {
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(
          "worker #", i, " name '", internal::EscapeBytes(info.name), "' has a control character"));
    }
  }
  // UTF-8 strings (the name first), args within kMaxArgsDepth.
  return internal::CheckWorkerValues(absl::StrCat("worker '", info.name, "'"), info);
}

// The rest of one worker's checks (its files, logging, entry), once its
// name passed CheckWorkerName; what the controller runs.
absl::StatusOr<controller::WorkerConfig> CheckWorker(const WorkerStartInfo& info, size_t i,
                                                     const std::vector<std::string>& search_dirs) {
  const std::string who = absl::StrCat("worker '", info.name, "'");
  if (info.pid_filename.empty()) {
    return absl::InvalidArgumentError(who + ": pid_filename is required");
  }
  if (absl::Status s = CheckOutputFile(info.pid_filename, "pid_filename"); !s.ok()) {
    return Invalid(who, s);
  }
  if (absl::Status s = CheckStdioFile(info.stdout_filename, "stdout_filename"); !s.ok()) {
    return Invalid(who, s);
  }
  if (absl::Status s = CheckStdioFile(info.stderr_filename, "stderr_filename"); !s.ok()) {
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
  if (info.command.empty()) {  // an entry gets them too: checked the same way
    if (absl::Status s =
            CheckCommandSettings(info.environment, info.working_directory, "WorkerStartInfo");
        !s.ok()) {
      return Invalid(who, s);
    }
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
  return worker;
}

// AddWorker's spec (proto/controller.proto WorkerSpec) as StartWorkers
// takes a worker, so that it gets the same checks.
WorkerStartInfo StartInfoOf(const v1::WorkerSpec& spec) {
  WorkerStartInfo info;
  info.name = spec.name();
  info.entry = spec.entry();
  info.args = Args(spec.args());
  if (spec.has_logging_config()) info.logging_config = spec.logging_config();
  info.pid_filename = spec.pid_filename();
  if (!spec.stdout_filename().empty()) info.stdout_filename = spec.stdout_filename();
  if (!spec.stderr_filename().empty()) info.stderr_filename = spec.stderr_filename();
  auto duration = [](const google::protobuf::Duration& d) {
    return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
  };
  if (spec.has_ready_timeout()) info.ready_timeout = duration(spec.ready_timeout());
  if (spec.has_watchdog_timeout()) info.watchdog_timeout = duration(spec.watchdog_timeout());
  info.command.assign(spec.command().begin(), spec.command().end());
  info.environment.insert(spec.environment().begin(), spec.environment().end());
  info.working_directory = spec.working_directory();
  return info;
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
    if (absl::Status s = CheckWorkerName(info, i); !s.ok()) return s;
    if (auto [it, added] = names.emplace(info.name, i); !added) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate worker name '", info.name,
                                                     "' (workers #", it->second, " and #", i, ")"));
    }
    const std::string who = absl::StrCat("worker '", info.name, "'");
    if (info.pid_filename.empty()) {
      return absl::InvalidArgumentError(who + ": pid_filename is required");
    }
    if (auto [it, added] = pid_files.emplace(info.pid_filename, info.name); !added) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": pid file ", info.pid_filename,
                                                     " is also worker '", it->second, "''s"));
    }
    absl::StatusOr<controller::WorkerConfig> worker = CheckWorker(info, i, search_dirs);
    if (!worker.ok()) return worker.status();
    pool.workers.push_back(std::move(*worker));
  }
  absl::StatusOr<std::string> binary = internal::FindAppkitBinary("worker");
  if (!binary.ok()) return absl::FailedPreconditionError(binary.status().message());
  pool.worker_binary = *binary;
  pool.controller_socket = internal::ControllerSocket();
  // Outside a daemon: the program's name.
  pool.daemon_name = internal::DaemonName();
  if (pool.daemon_name.empty()) pool.daemon_name = program_invocation_short_name;
  pool.user_fd_limit = FdSoftLimit();  // the controller raises its own; workers get this one
  // AddWorker: a spec gets the checks of a worker here (the controller
  // checks that its name and pid file are not in use).
  pool.check_spec = [search_dirs](const v1::WorkerSpec& spec,
                                  int index) -> absl::StatusOr<controller::WorkerConfig> {
    const WorkerStartInfo info = StartInfoOf(spec);
    if (absl::Status s = CheckWorkerName(info, index); !s.ok()) return s;
    return CheckWorker(info, index, search_dirs);
  };
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
