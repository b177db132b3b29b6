#include "executor/run_executor.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/base/fd_limit.h"
#include "common/base/log.h"
#include "common/host/command_launch.h"
#include "common/host/entry.h"
#include "common/host/host.h"
#include "common/host/supervisor_report.h"
#include "common/process/cgroup.h"
#include "common/process/command.h"
#include "common/process/fork_server.h"
#include "common/process/orphan_cleanup.h"
#include "common/process/pid_file.h"
#include "common/process/process_title.h"
#include "common/runtime/supervision.h"
#include "controller/control_plane.h"
#include "controller/prestarted_server.h"
#include "proto/wire.h"
#include "spdlog/spdlog.h"
#include "worker/worker_server.h"

namespace appkit::executor {
namespace {

// The guardian's cgroup for the daemon (guardian/containment.h): named
// after its pid file and pid, beside us (we are in the guardian's cgroup).
void ClearDaemonCgroup(const std::string& pid_filename, pid_t guardian) {
  if (ConfiguredCgroupMode() == CgroupMode::kOff) return;
  absl::StatusOr<std::string> own = OwnCgroupDir();
  if (!own.ok()) return;
  const std::string cgroup = *own + "/" + DaemonCgroupName(pid_filename, guardian);
  absl::StatusOr<int> killed = ClearCgroup(cgroup, absl::Seconds(2), /*keep_top=*/false);
  if (!killed.ok()) {
    fprintf(stderr, "executor fork server %d: cgroup %s: %s\n", getpid(), cgroup.c_str(),
            std::string(killed.status().message()).c_str());
  } else if (*killed > 0) {
    fprintf(stderr, "executor fork server %d: killed %d leftover processes in cgroup %s\n",
            getpid(), *killed, cgroup.c_str());
  }
}

// The guardian died by SIGKILL: its executor died with it (its
// parent-death signal). Kills what the entry left in its process group and
// in the daemon's cgroup, then removes the guardian's pid file and sockets
// (only if they are still its own and unheld).
void CleanUpAfterGuardian(OrphanCleanup& orphans, const std::vector<std::string>& guardian_files,
                          pid_t guardian) {
  orphans.Cleanup();
  if (guardian_files.size() != 3) return;
  const std::string& pid_file = guardian_files[0];
  ClearDaemonCgroup(pid_file, guardian);
  bool removed = PidFile::RemoveIfStale(pid_file, guardian, [&] {
    unlink(guardian_files[1].c_str());
    unlink(guardian_files[2].c_str());
    unlink(wire::GuardianStatusFileFor(pid_file).c_str());
    unlink(wire::WorkersStatusFileFor(guardian_files[2]).c_str());
  });
  // To the daemon's stderr file: the guardian's log may be gone with it.
  fprintf(stderr, "executor fork server %d: guardian %d died; %s\n", getpid(), guardian,
          removed ? ("removed its stale pid file " + pid_file + " and sockets").c_str()
                  : ("its pid file " + pid_file + " is not stale; left alone").c_str());
}

// A command entry (SPEC §10): this process becomes the program. The
// guardian hears "entry running" first; the pipe closes at the exec, or
// carries the error when the exec fails.
int RunCommand(const v1::ExecutorLaunch& launch) {
  if (launch.watchdog()) close(wire::kExecutorHeartbeatFd);  // WATCHDOG=1 beats instead
  RestoreFdSoftLimit(launch.user_fd_limit());
  const char running = static_cast<char>(wire::Message::kEntryRunning);
  (void)!write(wire::kExecutorReadyFd, &running, 1);
  const absl::Status exec =
      ExecCommand(launch.command().program(), internal::CommandSpecOf(launch.command()),
                  launch.notify_socket());
  const std::string error(exec.message());
  fprintf(stderr, "executor %d: %s\n", getpid(), error.c_str());
  internal::SetSupervisorPipe(wire::kExecutorReadyFd);
  internal::ReportEntryError(error);
  return 127;  // as a shell's "command not found"
}

}  // namespace

int RunExecutor(const v1::ExecutorLaunch& launch) {
  // The readiness pipe and the heartbeat table: never for user programs.
  fcntl(wire::kExecutorReadyFd, F_SETFD, FD_CLOEXEC);
  if (internal::IsCommand(launch.command())) return RunCommand(launch);
  if (absl::Status applied =
          internal::ApplyEntryEnvironment(launch.command(), launch.notify_socket());
      !applied.ok()) {
    fprintf(stderr, "executor: %s\n", std::string(applied.message()).c_str());
    return 1;
  }
  if (launch.watchdog()) {
    // Before the module loads: its loading counts as the entry's time.
    absl::Status attached = internal::AttachHeartbeat(wire::kExecutorHeartbeatFd, 0);
    close(wire::kExecutorHeartbeatFd);
    if (!attached.ok()) {
      fprintf(stderr, "executor: %s\n", std::string(attached.message()).c_str());
      return 1;
    }
  }
  // The entry sees the fd limit StartDaemon's caller had.
  RestoreFdSoftLimit(launch.user_fd_limit());
  // Where the appkit binaries are: for this process's pool, and for one a
  // worker of it may start.
  if (!launch.worker_path().empty()) {
    internal::SetAppkitBinaryOverride("worker", launch.worker_path());
  }
  if (!launch.control_plane_path().empty()) {
    internal::SetAppkitBinaryOverride(controller::kControlPlanePlugin, launch.control_plane_path());
  }
  if (launch.prestart_worker_server()) {
    // A copy of this process before the host starts (one thread) and the
    // module loads: the worker fork server of the pool the entry may start
    // (controller/prestarted_server.h), retired if it does not.
    controller::PrestartWorkerServer(
        [] { return worker::ServeWorkerForkRequests(""); },
        absl::StrCat("appkit-fork-server ", launch.daemon_name(), "/workers"));
  }
  internal::HostConfig host;
  host.role = "executor";
  if (launch.has_logging_config()) host.logging = launch.logging_config();
  host.stdout_filename = launch.stdout_filename();
  host.stderr_filename = launch.stderr_filename();
  host.forward_quit_to = static_cast<pid_t>(launch.guardian_pid());
  if (absl::Status status = internal::StartHost(host); !status.ok()) {
    fprintf(stderr, "executor: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  internal::SetControllerSocket(launch.controller_socket());
  internal::SetDaemonName(launch.daemon_name());
  const std::string& resolved = launch.resolved_entry();
  internal::SetEntryModuleDir(internal::ModuleDirOf(resolved));
  auto entry = internal::LoadEntry(resolved);
  if (!entry.ok()) {
    Log().error("executor {} cannot run entry {}: {}", getpid(), launch.daemon_entry(),
                std::string(entry.status().message()));
    return 1;
  }
  const char running = static_cast<char>(wire::Message::kEntryRunning);
  (void)!write(wire::kExecutorReadyFd, &running, 1);
  // The pipe stays open: the entry's error (and a pool's stop budget)
  // follow on it (common/host/supervisor_report.h); it closes at exit.
  internal::SetSupervisorPipe(wire::kExecutorReadyFd);
  if (launch.notify_ready()) {
    // NotifyReady() writes one frame of those reports: kReady, no payload.
    static constexpr char kReadyFrame[] = {static_cast<char>(wire::Message::kReady), 0, 0, 0, 0};
    internal::SetReadyChannel(wire::kExecutorReadyFd,
                              std::string_view(kReadyFrame, sizeof(kReadyFrame)));
  }
  Args args(launch.daemon_args());
  std::string error;
  int code = internal::RunEntry(*entry, args, launch.daemon_entry(), &error);
  if (code != 0) internal::ReportEntryError(error);
  Log().info("entry {} {}", launch.daemon_entry(),
             code == 0 ? "returned OK" : "failed, executor exits with code 1");
  spdlog::default_logger()->flush();
  return code;
}

int RunExecutorRequest(const std::string& request) {
  v1::ExecutorLaunch launch;
  if (!launch.ParseFromString(request)) {
    fprintf(stderr, "executor: malformed launch message\n");
    return 2;
  }
  SetProcessTitle("appkit-executor " + launch.daemon_name(), "appkit-executor");
  return RunExecutor(launch);
}

int ExecutorMain(const std::vector<std::string>& args) {
  struct stat st;
  if (fstat(wire::kForkServerFd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    fprintf(stderr, "executor: no fork-server socket on fd %d (it is started by the guardian)\n",
            wire::kForkServerFd);
    return 2;
  }
  RaiseFdSoftLimit();  // each executor sets the user's back (RunExecutor)
  const pid_t guardian = ForkServerSupervisor();
  OrphanCleanup orphans;
  ForkServerHooks hooks;
  // One executor at a time: each fork replaces the last one's entry.
  hooks.on_forked = [&orphans](const std::string&, pid_t pid) { orphans.Track(pid, ""); };
  hooks.on_supervisor_gone = [&] { CleanUpAfterGuardian(orphans, args, guardian); };
  return ServeForkRequests(wire::kForkServerFd, RunExecutorRequest, hooks);
}

}  // namespace appkit::executor
