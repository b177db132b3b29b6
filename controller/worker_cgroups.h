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
// (worker/main.cc). Where cgroups are unusable (see common/process/cgroup.h)
// Create says why and returns nullptr: the pool then kills each worker's
// process group only, and in a daemon the guardian kills what escaped
// when the executor exits.
//
// After a worker's exit nothing waits: when its cgroup is empty (the
// usual case) AfterWorker calls `done` at once; else it SIGKILLs what is
// left and calls `done` from the loop once cgroup.events says the cgroup
// is empty (a new pass for what they forked meanwhile, when every process
// signalled is gone and it is still populated), or after kClearWait
// (logged). The controller tells the worker's machine of the exit only
// then, so no restart starts beside a leftover.
//
// Loop thread only. The destructor may block up to 2 s (a nested pool's
// fork server finishing its cleanup, a process that takes long to die);
// it drops the `done` of clears still under way (the pool is ending).
#ifndef APPKIT_CONTROLLER_WORKER_CGROUPS_H_
#define APPKIT_CONTROLLER_WORKER_CGROUPS_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "absl/time/time.h"
#include "common/base/unique_fd.h"
#include "common/process/event_loop.h"

namespace appkit::controller {

class WorkerCgroups {
 public:
  static constexpr absl::Duration kClearWait = absl::Seconds(2);

  // `loop` outlives the WorkerCgroups; `clear_wait` bounds each clear
  // after a worker (shorter in tests).
  // `adopt`: the pool cgroup a prestarted fork server was born in
  // (controller/prestarted_server.h), taken as it is; "": a new one.
  static std::unique_ptr<WorkerCgroups> Create(EventLoop* loop,
                                               absl::Duration clear_wait = kClearWait,
                                               const std::string& adopt = "");
  // Kills what is left and removes the cgroups (logged when it can't).
  ~WorkerCgroups();

  // The pool's cgroup: the fork server runs in it (OpenPool), told its path.
  const std::string& pool() const { return pool_; }
  UniqueFd OpenPool() const;
  // The cgroup to fork worker `index` into, created on first use; an
  // invalid fd (logged) when it cannot be made or opened.
  UniqueFd OpenWorker(int index, const std::string& name);
  // After worker `index` (pid `pid`) exited and its group was killed:
  // `done` runs once what it left in its cgroup is gone (see the top).
  void AfterWorker(int index, const std::string& name, pid_t pid, std::function<void()> done);
  // Whether a clear after worker `index` is under way.
  bool Clearing(int index) const { return clears_.count(index) != 0; }

 private:
  struct Clear {
    std::string cgroup;
    std::string name;
    pid_t pid = 0;
    std::function<void()> done;
    UniqueFd events;                  // cgroup.events, watched for POLLPRI
    std::vector<UniqueFd> signalled;  // pidfds of the last kill pass, watched
    int killed = 0;
    int idle_passes = 0;
    EventLoop::TimerId timer = 0;
  };

  WorkerCgroups(EventLoop* loop, absl::Duration clear_wait, std::string pool)
      : loop_(loop), clear_wait_(clear_wait), pool_(std::move(pool)) {}
  // One SIGKILL pass over the worker's cgroup; false when it failed (logged).
  bool KillPass(int index, Clear& clear);
  void Step(int index, bool expired);
  // Unwatches everything of the clear, logs, forgets it, then calls done.
  void Finish(int index, const std::string& trouble);
  void Unwatch(Clear& clear);

  EventLoop* const loop_;
  const absl::Duration clear_wait_;
  const std::string pool_;
  std::unordered_set<int> created_;
  std::map<int, Clear> clears_;  // by worker index
};

}  // namespace appkit::controller

#endif  // APPKIT_CONTROLLER_WORKER_CGROUPS_H_
