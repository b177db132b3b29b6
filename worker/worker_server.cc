#include "worker/worker_server.h"

#include <stdio.h>
#include <sys/resource.h>

#include <string>

#include "common/base/fd_limit.h"
#include "common/base/safe_file.h"
#include "common/process/cgroup.h"
#include "common/process/fork_server.h"
#include "common/process/orphan_cleanup.h"
#include "common/process/process_title.h"
#include "proto/launch.pb.h"
#include "proto/wire.h"
#include "worker/run_worker.h"

namespace appkit::worker {
namespace {

// The cgroup of the pool of controller `supervisor` when this process is
// in it (a prestarted server is born there), else "".
std::string PoolCgroupOf(pid_t supervisor) {
  absl::StatusOr<std::string> own = OwnCgroupDir();
  if (!own.ok()) return "";
  const std::string name = "/" + PoolCgroupName(supervisor);
  return own->size() > name.size() &&
                 own->compare(own->size() - name.size(), name.size(), name) == 0
             ? *own
             : "";
}

}  // namespace

int ServeWorkerForkRequests(std::string pool_cgroup) {
  const pid_t supervisor = ForkServerSupervisor();
  // One pidfd per live worker is kept here (for the cleanup below): a
  // pool of 1000 needs more than the usual 1024 fds. Workers get the
  // original limit back.
  rlimit original = {};
  getrlimit(RLIMIT_NOFILE, &original);
  rlimit raised = original;
  raised.rlim_cur = raised.rlim_max;
  setrlimit(RLIMIT_NOFILE, &raised);

  // If the controller dies by SIGKILL, its workers die with it (their
  // parent-death signal); this server then kills what they left in their
  // process groups, removes their pid files and, last, leaves the pool's
  // cgroup to kill what is left in it and remove it (whoever clears the
  // cgroup above waits for that: common/process/cgroup.h).
  OrphanCleanup orphans;
  ForkServerHooks hooks;
  bool forked = false;
  hooks.on_forked = [&orphans, &forked](const std::string& request, pid_t pid) {
    forked = true;
    v1::WorkerLaunch launch;
    if (launch.ParseFromString(request)) orphans.Track(pid, launch.pid_filename());
  };
  hooks.on_supervisor_gone = [&orphans, &pool_cgroup, &forked, supervisor] {
    // A prestarted server nobody used (its executor ended first): nothing
    // of ours to clean, nothing to say (its cgroup goes with the daemon's).
    if (!forked && pool_cgroup.empty()) return;
    if (pool_cgroup.empty()) pool_cgroup = PoolCgroupOf(supervisor);
    orphans.Cleanup();
    std::string cgroup_note;
    if (!pool_cgroup.empty()) {
      absl::Status left = JoinCgroup(DirName(pool_cgroup));
      absl::StatusOr<int> killed =
          left.ok() ? ClearCgroup(pool_cgroup, absl::Seconds(2), /*keep_top=*/false)
                    : absl::StatusOr<int>(left);
      cgroup_note = killed.ok()
                        ? " and cgroup " + pool_cgroup
                        : "; cgroup " + pool_cgroup + ": " + std::string(killed.status().message());
    }
    fprintf(stderr,
            "worker fork server %d: its controller died; killed what was left of the "
            "workers and removed their stale pid files%s\n",
            getpid(), cgroup_note.c_str());
  };
  return ServeForkRequests(
      wire::kForkServerFd,
      [&original](const std::string& request) {
        setrlimit(RLIMIT_NOFILE, &original);
        v1::WorkerLaunch launch;
        if (!launch.ParseFromString(request)) {
          fprintf(stderr, "worker: malformed launch message\n");
          return 2;
        }
        if (!launch.process_title().empty()) {
          SetProcessTitle(launch.process_title(), launch.name());
        }
        // StartWorkers' caller's limit (this server may have been started
        // by a pool that had raised its own already).
        RestoreFdSoftLimit(launch.user_fd_limit());
        return RunWorker(launch);
      },
      hooks);
}

}  // namespace appkit::worker
