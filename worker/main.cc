// The worker binary: a fork server for one controller (worker_server.h).
// The controller execs it once, with its socket on fd wire::kForkServerFd
// and, when the pool has cgroups, the pool's cgroup as argv[1] (it runs in
// it: controller/worker_cgroups.h).
//
// Linked with -rdynamic (like the executor): worker modules bind to this
// binary's one copy of the appkit runtime.
#include <stdio.h>
#include <sys/stat.h>

#include <string>

#include "common/process/process_title.h"
#include "proto/wire.h"
#include "worker/worker_server.h"

int main(int argc, char** argv) {
  struct stat st;
  if (fstat(appkit::wire::kForkServerFd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    fprintf(stderr, "worker: no fork-server socket on fd %d (it is started by StartWorkers)\n",
            appkit::wire::kForkServerFd);
    return 2;
  }
  const std::string pool_cgroup = argc > 1 ? argv[1] : "";
  // "appkit-fork-server <daemon>/workers"; the room is the workers' too.
  const std::string title = appkit::ExecTitleOf(argv[0]);
  appkit::InitProcessTitle(argc, argv);
  appkit::SetProcessTitle(title, "appkit-forksrv");
  return appkit::worker::ServeWorkerForkRequests(pool_cgroup);
}
