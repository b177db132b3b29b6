// The worker fork server's loop: serves the fork requests of one
// controller on fd wire::kForkServerFd (common/process/fork_server.h); every
// worker is a fork that runs RunWorker with the WorkerLaunch it was sent.
// The worker binary (main.cc) runs it after its exec; the executor runs it
// in a fork of itself made before the entry's module loads, for the pool
// the entry may start (controller/prestarted_server.h).
//
// The server raises its own fd limit (one pidfd per live worker) and gives
// each worker its caller's back. If the controller dies by SIGKILL, its
// workers die with it (their parent-death signal); the server then kills
// what they left in their process groups, removes their pid files and,
// last, leaves the pool's cgroup to kill what is left in it and remove it.
// `pool_cgroup` is that cgroup ("": the one this process is in if it is
// its controller's pool cgroup, appkit-pool-<controller pid>, where a
// prestarted server is born). A server that was given no cgroup and never
// forked (a prestarted one nobody used) leaves without a word.
#ifndef APPKIT_WORKER_WORKER_SERVER_H_
#define APPKIT_WORKER_WORKER_SERVER_H_

#include <string>

namespace appkit::worker {

// Returns once the controller is gone (the process exit code).
int ServeWorkerForkRequests(std::string pool_cgroup);

}  // namespace appkit::worker

#endif  // APPKIT_WORKER_WORKER_SERVER_H_
