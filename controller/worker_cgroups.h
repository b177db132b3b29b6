// WorkerCgroups: one cgroup per worker of a pool, so that what a worker
// started dies before it is restarted, however it escaped the worker's
// process group (setsid, double fork).
//
// Under the controller's own cgroup (in a daemon: the daemon's, see
// guardian/containment.h): appkit-pool-<controller pid>, where the pool's
// fork server runs, and in it w<index>-<name> for each worker (made at its
// first start, kept for all its runs; each run is forked into it). After
// a worker's exit what is left in its cgroup is killed; when the pool ends
// (its fork server gone) everything left is killed and the cgroups are
// removed. If the controller dies by SIGKILL, the fork server does that
// (worker/main.cc). Where cgroups are unusable (see common/cgroup.h)
// Create says why and returns nullptr: the pool then kills each worker's
// process group only, and in a daemon the guardian kills what escaped
// when the executor exits.
//
// Loop thread only. AfterWorker and the destructor may block up to 2 s
// (a nested pool's fork server finishing its cleanup, a process that
// takes long to die); AfterWorker only when the worker left processes in
// its cgroup (then the wait for it to empty is not yet made through the
// loop).
#ifndef APPKIT_CONTROLLER_WORKER_CGROUPS_H_
#define APPKIT_CONTROLLER_WORKER_CGROUPS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <unordered_set>

#include "common/unique_fd.h"

namespace appkit::controller {

class WorkerCgroups {
 public:
  static std::unique_ptr<WorkerCgroups> Create();
  // Kills what is left and removes the cgroups (logged when it can't).
  ~WorkerCgroups();

  // The pool's cgroup: the fork server runs in it (OpenPool), told its path.
  const std::string& pool() const { return pool_; }
  UniqueFd OpenPool() const;
  // The cgroup to fork worker `index` into, created on first use; an
  // invalid fd (logged) when it cannot be made or opened.
  UniqueFd OpenWorker(int index, const std::string& name);
  // After worker `index` (pid `pid`) exited and its group was killed.
  void AfterWorker(int index, const std::string& name, pid_t pid);

 private:
  explicit WorkerCgroups(std::string pool) : pool_(std::move(pool)) {}

  const std::string pool_;
  std::unordered_set<int> created_;
};

}  // namespace appkit::controller

#endif  // APPKIT_CONTROLLER_WORKER_CGROUPS_H_
