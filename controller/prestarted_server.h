// A worker fork server started ahead of the pool that will use it.
//
// A daemon's first worker used to wait for the worker binary's exec and
// start (~8 ms of CPU: its shared libraries) after the entry called
// StartWorkers. The executor now forks a worker fork server from itself
// (a zygote: no exec, no loading, a copy of a process that has not loaded
// the entry's module yet) before it loads the module
// (PrestartWorkerServer); StartWorkers' controller takes it
// (TakePrestartedWorkerServer) instead of starting the worker binary.
//
// Contract:
// - PrestartWorkerServer forks a child set up as ForkServer::Start's are
//   (its own process group, SIGTERM blocked and as its parent-death
//   signal, fds 0-2 and the socket on wire::kForkServerFd only), born in a
//   new pool cgroup (appkit-pool-<this pid> beside this process, where
//   cgroups are usable), that runs `serve` and exits with its result. Call it while this process
//   has a single thread (the child runs ordinary code after the fork).
// - The server is handed over only if this process would start the very
//   same server now: same thread (the parent-death signal of the server
//   and of its workers, forked with CLONE_PARENT, follows the thread that
//   made it), and the same state a child inherits
//   (ProcessFingerprint: environment, working directory, credentials,
//   capabilities, umask, resource limits, namespaces, ...). An entry that
//   changed any of them before StartWorkers (dropped privileges, set a
//   variable, chdir) gets a fresh server, as before.
// - Unclaimed after `standby`, it is retired: killed and reaped, its cgroup
//   removed, on a thread that waits on a condition variable, not a poll. A claim or the
//   retirement happens once.
// - At most one waits at a time: a Prestart while one waits does nothing.
// Thread-safe.
#ifndef APPKIT_CONTROLLER_PRESTARTED_SERVER_H_
#define APPKIT_CONTROLLER_PRESTARTED_SERVER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/process/fork_server.h"

namespace appkit::controller {

inline constexpr absl::Duration kPrestartStandby = absl::Seconds(3);

// The largest pool that starts from the prestarted server. Its workers are
// forks of a fork (executor fork server, executor, server): they fork and
// exit slower than those of an exec'd server (the kernel's anon_vma chains
// grow with each generation; measured +0.35 ms a worker, 1000 workers
// started in 2.17 s instead of 1.82), which ~8 ms saved pays back only for a
// few workers. A larger pool retires it and starts the worker binary.
inline constexpr size_t kPrestartedServerMaxWorkers = 16;

// What a server made by this thread now would inherit, as one string
// (two equal strings: the same server).
std::string ProcessFingerprint();

// Forks the server, running `serve` (it returns the server's exit code),
// with `title` as what ps shows. Nothing happens when the fork fails
// (logged at debug: StartWorkers starts a server, if it is ever called).
void PrestartWorkerServer(const std::function<int()>& serve, const std::string& title,
                          absl::Duration standby = kPrestartStandby);

// The server prestarted, for a pool of `workers` (`server` null when there
// is none: retired, claimed already, or this process changed since, or the
// pool has more than kPrestartedServerMaxWorkers: then it is retired
// here). The caller owns it and reaps it (it is our child). `cgroup`: the
// pool cgroup it was born in (PoolCgroupName of this process, beside it),
// for the pool to adopt; "" when cgroups are unusable.
struct PrestartedServer {
  std::unique_ptr<ForkServer> server;
  std::string cgroup;
};
PrestartedServer TakePrestartedWorkerServer(size_t workers);

}  // namespace appkit::controller

#endif  // APPKIT_CONTROLLER_PRESTARTED_SERVER_H_
