#include "common/base/log.h"
#include "guardian/containment.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/process/cgroup.h"
#include "common/process/pidfd.h"
#include "spdlog/spdlog.h"

namespace appkit::guardian {
namespace {

constexpr absl::Duration kCleanupWait = absl::Seconds(2);

// A worker fork server: it runs the worker binary, leads its own process
// group and stays in the daemon's session. (A fork of a worker runs that
// binary too, but does not lead a group of its own unless it made one.)
bool IsWorkerForkServer(pid_t pid, const std::string& worker_binary) {
  if (worker_binary.empty() || getpgid(pid) != pid || getsid(pid) != getsid(0)) return false;
  std::error_code error;
  auto exe = std::filesystem::read_symlink(absl::StrCat("/proc/", pid, "/exe"), error);
  return !error && std::filesystem::equivalent(exe, worker_binary, error);
}

// A zombie child (already dead): reaped here; true if it was one.
bool ReapIfZombie(pid_t pid) {
  siginfo_t info = {};
  if (waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid != pid) {
    return false;
  }
  waitid(P_PID, pid, &info, WEXITED);
  return true;
}

}  // namespace

std::unique_ptr<Containment> Containment::Create(const std::string& pid_filename,
                                                 const std::string& worker_path) {
  std::unique_ptr<Containment> containment(new Containment());
  containment->worker_path_ = worker_path;
  absl::StatusOr<std::string> own = OwnCgroupDir();
  const std::string name = DaemonCgroupName(pid_filename, getpid());
  absl::StatusOr<std::string> cgroup = own.ok() ? CreateCgroup(*own, name) : own;
  if (absl::IsAlreadyExists(cgroup.status())) {
    // Left by a guardian that had our pid and died with its executor fork
    // server: stale, as that pid is ours now.
    (void)ClearCgroup(*own + "/" + name, kCleanupWait, /*keep_top=*/false);
    cgroup = CreateCgroup(*own, name);
  }
  absl::StatusOr<UniqueFd> fd =
      cgroup.ok() ? OpenCgroup(*cgroup) : absl::StatusOr<UniqueFd>(cgroup.status());
  if (!fd.ok()) {
    if (cgroup.ok()) (void)RemoveCgroupTree(*cgroup, /*keep_top=*/false);
    Log().info("no cgroup for the daemon ({}): what escapes the executor's process group is "
                 "killed when re-parented to the guardian, at each executor exit",
                 std::string(fd.status().message()));
    return containment;
  }
  containment->cgroup_ = *cgroup;
  containment->cgroup_fd_ = std::move(*fd);
  Log().debug("the daemon's processes run in cgroup {}", containment->cgroup_);
  return containment;
}

void Containment::KillLeftovers(pid_t keep, bool final) {
  // Between two executors, with a cgroup: everything of the daemon is in
  // it (only a process with write access to cgroup files can leave), so
  // an empty one (the usual case: the executor's group is gone) means
  // nothing to do, and no /proc scan on the way to the restart.
  if (!cgroup_.empty() && !final) {
    absl::StatusOr<bool> populated = CgroupPopulated(cgroup_);
    if (populated.ok() && !*populated) return;
  }
  // 1. A worker fork server whose executor died (re-parented to us: we are
  //    a subreaper) is killing its workers' groups and removing their pid
  //    files; it exits when done.
  const absl::Time deadline = absl::Now() + kCleanupWait;
  for (pid_t pid : ChildPids()) {
    if (pid == keep || !IsWorkerForkServer(pid, worker_path_)) continue;
    UniqueFd pidfd = OpenPidfd(pid);
    if (pidfd && !WaitForExit(pidfd.get(), deadline)) {
      Log().warn("worker fork server {} still cleaning up after {}; killed", pid,
                   absl::FormatDuration(kCleanupWait));
      kill(pid, SIGKILL);
    }
    siginfo_t info;
    waitid(P_PID, pid, &info, WEXITED);
  }

  // 2. The cgroup: everything in it.
  if (!cgroup_.empty()) {
    absl::StatusOr<int> killed = ClearCgroup(cgroup_, kCleanupWait, /*keep_top=*/!final);
    if (!killed.ok()) {
      Log().warn("cgroup {}: {}", cgroup_, std::string(killed.status().message()));
    } else if (*killed > 0) {
      Log().warn("killed {} leftover process{} of the daemon (in cgroup {})", *killed,
                   *killed == 1 ? "" : "es", cgroup_);
    }
  }

  // 3. Our children other than `keep`: processes re-parented to us (that
  //    left the cgroup, or all of them without one). Killing one may hand
  //    us its children: scan again until no stranger is left (bounded).
  for (int round = 0; round < 16; ++round) {
    bool killed = false;
    for (pid_t pid : ChildPids()) {
      if (pid == keep || ReapIfZombie(pid)) continue;
      Log().warn("killing leftover process {} of the daemon", pid);
      kill(pid, SIGKILL);
      siginfo_t info;
      waitid(P_PID, pid, &info, WEXITED);
      killed = true;
    }
    if (!killed) break;
  }
}

}  // namespace appkit::guardian
