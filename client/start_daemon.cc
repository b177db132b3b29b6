// StartDaemon (client/appkit.h): checks the options, then starts the
// guardian detached and waits for its one readiness message.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/appkit.h"
#include "client/check_options.h"
#include "client/daemon_launch.h"
#include "client/daemon_name.h"
#include "client/launch_utf8.h"
#include "common/base/errno_status.h"
#include "common/base/fd_io.h"
#include "common/base/fd_limit.h"
#include "common/base/safe_file.h"
#include "common/base/time_format.h"
#include "common/base/unix_socket_path.h"
#include "common/host/command_launch.h"
#include "common/host/entry.h"
#include "common/host/host.h"
#include "common/host/option_checks.h"
#include "common/process/command.h"
#include "common/process/fork_server.h"
#include "common/process/notify_socket.h"
#include "common/process/pid_file.h"
#include "common/process/process_title.h"
#include "common/process/spawn.h"
#include "common/process/stdio_files.h"
#include "controller/control_plane.h"
#include "proto/launch.pb.h"
#include "proto/wire.h"

namespace appkit {
namespace {

constexpr absl::Duration kGuardianReportTimeout = absl::Seconds(30);

DaemonStartResult Failed(std::string error) {
  return DaemonStartResult{DaemonRunStatus::kLaunchFailed, std::nullopt, std::move(error)};
}

DaemonStartResult Failed(const absl::Status& status) {
  return Failed(std::string(status.message()));
}

// A socket path in a trusted, writable directory, with nothing but a
// (stale or live) socket at it: the guardian's bind tells those apart.
absl::Status CheckSocketPath(const std::string& path, const std::string& what) {
  const std::string dir = DirName(path);
  if (absl::Status s = CheckTrustedDirectory(dir, what + " " + path); !s.ok()) return s;
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    return ErrnoStatus(
        errno, absl::StrCat("directory ", dir, " of ", what, " ", path, " is not writable"));
  }
  struct stat st;
  if (lstat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode)) {
    return absl::PermissionDeniedError(absl::StrCat(what, " path ", path, " exists and is ",
                                                    FileTypeName(st.st_mode), ": refused"));
  }
  return absl::OkStatus();
}

v1::RestartPolicyLaunch PolicyLaunch(const RestartPolicy& policy) {
  v1::RestartPolicyLaunch out;
  out.set_backoff_multiplier(policy.backoff_multiplier);
  *out.mutable_max_delay() = ToProtoDuration(policy.max_delay);
  out.set_jitter(policy.jitter);
  *out.mutable_reset_after() = ToProtoDuration(policy.reset_after);
  out.set_max_restarts(policy.max_restarts);
  *out.mutable_within() = ToProtoDuration(policy.within);
  for (int code : policy.no_restart_exit_codes) out.add_no_restart_exit_codes(code);
  return out;
}

absl::StatusOr<v1::DaemonLaunch> BuildLaunch(const DaemonOptions& options) {
  v1::DaemonLaunch launch;
  if (options.daemon_entry.empty() == options.command.empty()) {
    return absl::InvalidArgumentError(
        options.command.empty()
            ? "DaemonOptions.daemon_entry is required (or DaemonOptions.command)"
            : absl::StrCat("DaemonOptions: daemon_entry '", options.daemon_entry, "' and command '",
                           absl::StrJoin(options.command, " "),
                           "' are both set: give exactly one"));
  }
  // Durations in [0, a year], UTF-8 strings, args within kMaxArgsDepth.
  if (absl::Status s = internal::CheckDaemonOptionValues(options); !s.ok()) return s;
  if (absl::Status s = CheckFdLimit(kMinDaemonFds, "a daemon"); !s.ok()) return s;
  if (absl::Status s = CheckStdioFile(options.stdout_filename, "stdout_filename"); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckStdioFile(options.stderr_filename, "stderr_filename"); !s.ok()) {
    return s;
  }
  if (options.logging_config) {
    if (absl::Status s = internal::ValidateLoggingConfig(*options.logging_config); !s.ok()) {
      return s;
    }
    *launch.mutable_logging_config() = *options.logging_config;
  }
  const std::string guardian_socket = options.control_socket.empty()
                                          ? wire::DefaultGuardianSocket(options.pid_filename)
                                          : options.control_socket;
  if (absl::Status s = CheckUnixSocketPath(guardian_socket, "control socket path"); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckSocketPath(guardian_socket, "control socket"); !s.ok()) return s;
  const std::string controller_socket = wire::ControllerSocketFor(guardian_socket);
  if (absl::Status s = CheckUnixSocketPath(
          controller_socket, "worker controller socket path (derived from the control socket)");
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> name = internal::DaemonNameOf(options.name, options.pid_filename);
  if (!name.ok()) return name.status();
  launch.set_name(*name);
  // A command's program, or the entry's module, must be found now.
  CommandSpec command{options.command, options.environment, options.working_directory};
  absl::StatusOr<std::string> resolved =
      options.command.empty()
          ? internal::ResolveEntry(options.daemon_entry, internal::ModuleSearchDirs())
          : CheckCommand(command, "DaemonOptions.command");
  if (!resolved.ok()) return resolved.status();
  if (options.command.empty()) {  // an entry gets them too: checked the same way
    if (absl::Status s =
            CheckCommandSettings(options.environment, options.working_directory, "DaemonOptions");
        !s.ok()) {
      return s;
    }
  }

  if (auto guardian = internal::FindAppkitBinary("guardian"); !guardian.ok()) {
    return guardian.status();
  }
  auto executor = internal::FindAppkitBinary("executor");
  if (!executor.ok()) return executor.status();
  auto worker = internal::FindAppkitBinary("worker");
  auto control_plane = internal::FindAppkitFile(controller::kControlPlanePlugin, "controller");

  launch.set_pid_filename(options.pid_filename);
  launch.set_guardian_socket(guardian_socket);
  launch.set_controller_socket(controller_socket);
  if (options.command.empty()) {
    launch.set_daemon_entry(options.daemon_entry);
    launch.set_resolved_entry(*resolved);
    launch.set_entry_starts_workers(internal::ModuleCallsStartWorkers(*resolved));
  } else {
    launch.set_daemon_entry(absl::StrJoin(options.command, " "));
  }
  if (!options.command.empty() || !options.environment.empty() ||
      !options.working_directory.empty()) {
    command.argv = options.command;
    *launch.mutable_command() =
        internal::CommandLaunchOf(command, options.command.empty() ? "" : *resolved);
  }
  *launch.mutable_daemon_args() = options.daemon_args.proto();
  if (options.restart_interval) {
    *launch.mutable_restart_interval() = ToProtoDuration(*options.restart_interval);
  }
  if (options.stop_timeout) *launch.mutable_stop_timeout() = ToProtoDuration(*options.stop_timeout);
  *launch.mutable_restart_policy() = PolicyLaunch(options.restart_policy);
  if (options.ready_timeout) {
    *launch.mutable_ready_timeout() = ToProtoDuration(*options.ready_timeout);
  }
  if (options.watchdog_timeout) {
    *launch.mutable_watchdog_timeout() = ToProtoDuration(*options.watchdog_timeout);
  }
  launch.set_wait_ready(options.wait_ready);
  launch.set_executor_path(*executor);
  launch.set_worker_path(worker.ok() ? *worker : "");
  launch.set_control_plane_path(control_plane.ok() ? *control_plane : "");
  launch.set_stdout_filename(options.stdout_filename);
  launch.set_stderr_filename(options.stderr_filename);
  launch.set_user_fd_limit(FdSoftLimit());
  // What was found from the options too (the module's path, appkit's
  // binaries) must be UTF-8, or the guardian cannot read its launch.
  if (absl::Status s = internal::CheckLaunchUtf8(launch); !s.ok()) return s;
  return launch;
}

}  // namespace

absl::StatusOr<v1::DaemonLaunch> internal::BuildDaemonLaunch(const DaemonOptions& options) {
  auto launch = BuildLaunch(options);
  if (!launch.ok()) return launch;
  if (absl::Status s = CheckHealthListen(options.health_listen); !s.ok()) return s;
  launch->set_health_listen(options.health_listen);
  return launch;
}

DaemonStartResult StartDaemon(const DaemonOptions& options) {
  // A daemon that runs is reported first, whatever the other options say
  // (a start is idempotent); only the pid file must be valid.
  if (options.pid_filename.empty()) return Failed("DaemonOptions.pid_filename is required");
  if (absl::Status s = CheckOutputFile(options.pid_filename, "pid file"); !s.ok()) {
    return Failed(s);
  }
  absl::StatusOr<PidFile::Holder> holder = PidFile::Inspect(options.pid_filename, "guardian");
  if (!holder.ok()) return Failed(holder.status());
  if (holder->state == PidFile::Holder::State::kRunning) {
    return DaemonStartResult{DaemonRunStatus::kAlreadyRunning, holder->pid, ""};
  }
  if (holder->state == PidFile::Holder::State::kForeign) {
    return Failed(absl::StrCat("pid file ", options.pid_filename,
                               " is held by something else: ", holder->why));
  }

  auto launch = internal::BuildDaemonLaunch(options);
  if (!launch.ok()) return Failed(launch.status());

  auto guardian = internal::FindAppkitBinary("guardian");
  if (!guardian.ok()) return Failed(guardian.status());

  UniqueFd null_in(open("/dev/null", O_RDONLY | O_CLOEXEC));
  absl::StatusOr<StdioFiles> stdio =
      OpenStdioFiles(options.stdout_filename, options.stderr_filename);
  if (!stdio.ok()) return Failed(stdio.status());
  const int out_fd = stdio->out.get();
  const int err_fd = stdio->err_fd();
  auto memfd = MemfdWithContent("appkit-daemon-launch", launch->SerializeAsString());
  if (!memfd.ok()) return Failed(memfd.status());
  UniqueFd config(*memfd);
  int ready_pipe[2];
  if (pipe2(ready_pipe, O_CLOEXEC) != 0) return Failed(ErrnoStatus(errno, "pipe2"));
  UniqueFd ready_read(ready_pipe[0]);
  UniqueFd ready_write(ready_pipe[1]);

  // The executor fork server starts next to the guardian (its child all
  // the same), so that both binaries load at once: the first entry runs
  // that much sooner. The arguments are those the guardian would give it:
  // the files it removes if the guardian dies by SIGKILL. A command
  // daemon's program needs no executor (the guardian spawns it): the
  // guardian starts that server itself once the program runs, and the
  // program does not wait for the executor binary to load.
  const bool with_companion = !internal::IsCommand(launch->command());
  const int stdio_fds[3] = {null_in.get(), out_fd, err_fd};
  absl::StatusOr<ForkServer::CompanionLaunch> executor_server;
  if (with_companion) {
    executor_server = ForkServer::PrepareCompanion(
        launch->executor_path(),
        {launch->pid_filename(), launch->guardian_socket(), launch->controller_socket()}, stdio_fds,
        "appkit-fork-server " + launch->name() + "/executor");
    if (!executor_server.ok()) return Failed(executor_server.status());
  }

  SpawnOptions spawn;
  spawn.argv = {*guardian};
  spawn.argv0 = ExecTitle("appkit-guardian " + launch->name());  // what ps shows
  spawn.fds = {{null_in.get(), 0},
               {out_fd, 1},
               {err_fd, 2},
               {config.get(), wire::kGuardianLaunchFd},
               {ready_write.get(), wire::kGuardianReadyFd}};
  if (with_companion) {
    spawn.fds.push_back({executor_server->supervisor_end.get(), wire::kGuardianForkServerFd});
  }
  if (absl::Status status =
          SpawnDetached(spawn, with_companion ? &executor_server->companion : nullptr);
      !status.ok()) {
    return Failed(status);
  }
  if (with_companion) {
    executor_server->supervisor_end.reset();
    executor_server->server_end.reset();
  }
  ready_write.reset();

  // One message, then EOF. A guardian that dies first leaves only EOF.
  // With wait_ready it reports once the entry is ready (or failed first).
  std::string report;
  absl::Duration report_timeout = kGuardianReportTimeout;
  if (options.wait_ready && options.ready_timeout) report_timeout += *options.ready_timeout;
  absl::Time deadline = absl::Now() + report_timeout;
  for (;;) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return Failed(absl::StrCat("the guardian did not report within ",
                                 absl::FormatDuration(report_timeout)));
    }
    pollfd pfd = {ready_read.get(), POLLIN, 0};
    timespec timeout = absl::ToTimespec(left);
    if (ppoll(&pfd, 1, &timeout, nullptr) <= 0) continue;
    char buf[4096];
    ssize_t n = read(ready_read.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    report.append(buf, n);
  }
  v1::GuardianReady ready;
  if (report.empty() || !ready.ParseFromString(report)) {
    return Failed(
        absl::StrCat("the guardian exited before it reported (see ", options.stderr_filename, ")"));
  }
  if (!ready.error().empty()) return Failed(ready.error());
  if (ready.running_pid() != 0) {
    return DaemonStartResult{DaemonRunStatus::kAlreadyRunning,
                             static_cast<pid_t>(ready.running_pid()), ""};
  }
  // Under systemd (Type=forking or notify, SPEC §10): the guardian is the
  // service's main process from now on, not our caller.
  if (absl::Status told = NotifyOwnManager(absl::StrCat("MAINPID=", ready.guardian_pid()));
      !told.ok()) {
    spdlog::warn("StartDaemon: {}", std::string(told.message()));
  }
  return DaemonStartResult{DaemonRunStatus::kLaunched, static_cast<pid_t>(ready.guardian_pid()),
                           ""};
}

}  // namespace appkit
