// The executor binary: a fork server for one guardian (see
// common/fork_server.h). The guardian execs it once, with its socket on
// fd 3; every executor (first start and each restart) is a fork of it
// that gets an ExecutorLaunch and, on fd 4, the readiness pipe. The
// executor loads the daemon entry's module, says "ready" on fd 4, runs
// the entry, and exits with its result (0: OK; 1: error, exception, or
// the module could not be loaded).
//
// Linked with -rdynamic: modules resolve the appkit runtime (quit flag,
// Args, StartWorkers, generated protos) against this binary, so there is
// one copy of that state per process.
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/log.h"
#include "common/cgroup.h"
#include "common/entry.h"
#include "common/fd_io.h"
#include "common/fd_limit.h"
#include "common/fork_server.h"
#include "common/orphan_cleanup.h"
#include "common/pid_file.h"
#include "common/host.h"
#include "controller/control_plane.h"
#include "proto/launch.pb.h"
#include "proto/wire.h"
#include "spdlog/spdlog.h"

namespace {

int RunExecutor(const appkit::v1::ExecutorLaunch& launch) {
  fcntl(appkit::wire::kExecutorReadyFd, F_SETFD, FD_CLOEXEC);  // never for user programs
  // The entry sees the fd limit StartDaemon's caller had.
  appkit::RestoreFdSoftLimit(launch.user_fd_limit());
  appkit::internal::HostConfig host;
  host.role = "executor";
  if (launch.has_logging_config()) host.logging = launch.logging_config();
  host.stdout_filename = launch.stdout_filename();
  host.stderr_filename = launch.stderr_filename();
  host.forward_quit_to = static_cast<pid_t>(launch.guardian_pid());
  if (absl::Status status = appkit::internal::StartHost(host); !status.ok()) {
    fprintf(stderr, "executor: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  appkit::internal::SetControllerSocket(launch.controller_socket());
  if (!launch.worker_path().empty()) {
    appkit::internal::SetAppkitBinaryOverride("worker", launch.worker_path());
  }
  if (!launch.control_plane_path().empty()) {
    appkit::internal::SetAppkitBinaryOverride(appkit::controller::kControlPlanePlugin,
                                              launch.control_plane_path());
  }
  const std::string& resolved = launch.resolved_entry();
  appkit::internal::SetEntryModuleDir(appkit::internal::ModuleDirOf(resolved));
  auto entry = appkit::internal::LoadEntry(resolved);
  if (!entry.ok()) {
    appkit::Log().error("executor {} cannot run entry {}: {}", getpid(), launch.daemon_entry(),
                  std::string(entry.status().message()));
    return 1;
  }
  const char running = static_cast<char>(appkit::wire::Message::kEntryRunning);
  (void)!write(appkit::wire::kExecutorReadyFd, &running, 1);
  close(appkit::wire::kExecutorReadyFd);
  appkit::Args args(launch.daemon_args());
  int code = appkit::internal::RunEntry(*entry, args, launch.daemon_entry());
  appkit::Log().info("entry {} {}", launch.daemon_entry(),
               code == 0 ? "returned OK" : "failed, executor exits with code 1");
  spdlog::default_logger()->flush();
  return code;
}

// The guardian's cgroup for the daemon (guardian/containment.h): named
// after its pid file and pid, beside us (we are in the guardian's cgroup).
void ClearDaemonCgroup(const std::string& pid_filename, pid_t guardian) {
  if (appkit::ConfiguredCgroupMode() == appkit::CgroupMode::kOff) return;
  absl::StatusOr<std::string> own = appkit::OwnCgroupDir();
  if (!own.ok()) return;
  const std::string cgroup = *own + "/" + appkit::DaemonCgroupName(pid_filename, guardian);
  absl::StatusOr<int> killed = appkit::ClearCgroup(cgroup, absl::Seconds(2), /*keep_top=*/false);
  if (!killed.ok()) {
    fprintf(stderr, "executor fork server %d: cgroup %s: %s\n", getpid(), cgroup.c_str(),
            std::string(killed.status().message()).c_str());
  } else if (*killed > 0) {
    fprintf(stderr, "executor fork server %d: killed %d leftover processes in cgroup %s\n",
            getpid(), *killed, cgroup.c_str());
  }
}

}  // namespace

// argv: executor <pid file> <control socket> <controller socket>, the
// guardian's files, removed here if the guardian dies by SIGKILL.
int main(int argc, char** argv) {
  struct stat st;
  if (fstat(3, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    fprintf(stderr, "executor: no fork-server socket on fd 3 (it is started by the guardian)\n");
    return 2;
  }
  appkit::RaiseFdSoftLimit();  // each executor sets the user's back (RunExecutor)
  const pid_t guardian = appkit::ForkServerSupervisor();
  std::vector<std::string> guardian_files(argv + 1, argv + argc);
  appkit::OrphanCleanup orphans;
  appkit::ForkServerHooks hooks;
  // One executor at a time: each fork replaces the last one's entry.
  hooks.on_forked = [&orphans](const std::string&, pid_t pid) { orphans.Track(pid, ""); };
  hooks.on_supervisor_gone = [&] {
    // The guardian died by SIGKILL: its executor died with it; kill what
    // the entry left in its process group and in the daemon's cgroup, then
    // remove the guardian's pid file and sockets (only if they are still
    // its own and unheld).
    orphans.Cleanup();
    if (guardian_files.size() == 3) {
      ClearDaemonCgroup(guardian_files[0], guardian);
      bool removed = appkit::PidFile::RemoveIfStale(guardian_files[0], guardian, [&] {
        unlink(guardian_files[1].c_str());
        unlink(guardian_files[2].c_str());
      });
      // To the daemon's stderr file: the guardian's log may be gone with it.
      fprintf(stderr, "executor fork server %d: guardian %d died; %s\n", getpid(), guardian,
              removed ? ("removed its stale pid file " + guardian_files[0] + " and sockets").c_str()
                      : ("its pid file " + guardian_files[0] + " is not stale; left alone").c_str());
    }
  };
  return appkit::ServeForkRequests(
      3,
      [](const std::string& request) {
        appkit::v1::ExecutorLaunch launch;
        if (!launch.ParseFromString(request)) {
          fprintf(stderr, "executor: malformed launch message\n");
          return 2;
        }
        return RunExecutor(launch);
      },
      hooks);
}
