// The worker binary: a fork server for one controller (see
// common/process/fork_server.h). The controller execs it once, with its socket on
// fd wire::kForkServerFd and, when the pool has cgroups, the pool's cgroup
// as argv[1] (it runs in it: controller/worker_cgroups.h); every worker is
// a fork of it that runs RunWorker with the WorkerLaunch it was sent.
//
// Linked with -rdynamic (like the executor): worker modules bind to this
// binary's one copy of the appkit runtime.
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <string>
#include "common/base/fd_limit.h"

#include "common/base/fd_io.h"
#include "common/base/safe_file.h"
#include "common/process/cgroup.h"
#include "common/process/fork_server.h"
#include "common/process/orphan_cleanup.h"
#include "common/process/process_title.h"
#include "proto/launch.pb.h"
#include "proto/wire.h"
#include "worker/run_worker.h"

namespace {

// This process's cgroup when it is a pool's (appkit-pool-<pid>), else "".
std::string OwnPoolCgroup() {
  absl::StatusOr<std::string> own = appkit::OwnCgroupDir();
  if (!own.ok()) return "";
  const size_t slash = own->rfind('/');
  const std::string base = slash == std::string::npos ? *own : own->substr(slash + 1);
  return base.rfind(appkit::kPoolCgroupPrefix, 0) == 0 ? *own : "";
}

}  // namespace

int main(int argc, char** argv) {
  struct stat st;
  if (fstat(appkit::wire::kForkServerFd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    fprintf(stderr, "worker: no fork-server socket on fd %d (it is started by StartWorkers)\n",
            appkit::wire::kForkServerFd);
    return 2;
  }
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
  // A server the executor prestarted (controller/prestarted_server.h) has
  // no argv[1]: its pool moved it into the pool's cgroup, found at the end.
  std::string pool_cgroup = argc > 1 ? argv[1] : "";
  // "appkit-fork-server <daemon>/workers"; the room is the workers' too.
  const std::string title = appkit::ExecTitleOf(argv[0]);
  appkit::InitProcessTitle(argc, argv);
  appkit::SetProcessTitle(title, "appkit-forksrv");
  appkit::OrphanCleanup orphans;
  appkit::ForkServerHooks hooks;
  bool forked = false;
  hooks.on_forked = [&orphans, &forked](const std::string& request, pid_t pid) {
    forked = true;
    appkit::v1::WorkerLaunch launch;
    if (launch.ParseFromString(request)) orphans.Track(pid, launch.pid_filename());
  };
  hooks.on_supervisor_gone = [&orphans, &pool_cgroup, &forked] {
    if (pool_cgroup.empty()) pool_cgroup = OwnPoolCgroup();
    // A prestarted server nobody used (its executor ended first): nothing
    // of ours to clean, nothing to say.
    if (!forked && pool_cgroup.empty()) return;
    orphans.Cleanup();
    std::string cgroup_note;
    if (!pool_cgroup.empty()) {
      absl::Status left = appkit::JoinCgroup(appkit::DirName(pool_cgroup));
      absl::StatusOr<int> killed =
          left.ok() ? appkit::ClearCgroup(pool_cgroup, absl::Seconds(2), /*keep_top=*/false)
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
  return appkit::ServeForkRequests(
      appkit::wire::kForkServerFd,
      [&original](const std::string& request) {
        setrlimit(RLIMIT_NOFILE, &original);
        appkit::v1::WorkerLaunch launch;
        if (!launch.ParseFromString(request)) {
          fprintf(stderr, "worker: malformed launch message\n");
          return 2;
        }
        if (!launch.process_title().empty()) {
          appkit::SetProcessTitle(launch.process_title(), launch.name());
        }
        // StartWorkers' caller's limit (this server may have been started
        // by a pool that had raised its own already).
        appkit::RestoreFdSoftLimit(launch.user_fd_limit());
        return appkit::worker::RunWorker(launch);
      },
      hooks);
}
