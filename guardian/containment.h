// Containment: the guardian's promise that nothing the daemon's processes
// started outlives an executor run, however it escaped the executor's
// process group (setsid, double fork).
//
// With a usable cgroup2 (common/process/cgroup.h): the daemon's cgroup,
// <guardian's cgroup>/appkit-<pid file base>-<guardian pid>, created at
// start; every executor is forked into it (cgroup_fd), so everything the
// entry, its worker pools and their workers start is in it or below.
// After each executor exit everything left in it is killed (its cgroups
// below are removed); at the guardian's exit it is removed too. (If the
// guardian dies by SIGKILL, the executor fork server does the same:
// executor/main.cc.)
// Without (not mounted, not writable, APPKIT_CGROUPS=off): the guardian
// is a child subreaper, so a process that escaped and lost its parent is
// re-parented to it; those are killed at the same moments. What never
// lost its parent (a child of a still-running process that left the
// group) is not found this way until its parent dies.
//
// Both ways, a worker fork server whose executor died is first given up
// to 2 s to finish its cleanup (kill its workers' groups, remove their pid
// files: common/process/orphan_cleanup.h). Runs on the guardian's loop thread;
// each call may block that long.
#ifndef APPKIT_GUARDIAN_CONTAINMENT_H_
#define APPKIT_GUARDIAN_CONTAINMENT_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "common/base/unique_fd.h"

namespace appkit::guardian {

class Containment {
 public:
  // Creates the daemon's cgroup or chooses the fallback, and logs which
  // (and why). `worker_path`: the worker binary, whose fork servers are
  // let finish.
  static std::unique_ptr<Containment> Create(const std::string& pid_filename,
                                             const std::string& worker_path);

  // The cgroup to fork executors into, or -1 (fallback).
  int cgroup_fd() const { return cgroup_fd_.get(); }
  const std::string& cgroup() const { return cgroup_; }

  // After an executor exited and its process group was killed: kills what
  // the run left. `keep`: the executor fork server (0: none), never killed.
  void AfterExecutor(pid_t keep) { KillLeftovers(keep, /*final=*/false); }
  // At the guardian's exit (the executor fork server gone): the same, and
  // the cgroup is removed.
  void AtExit() { KillLeftovers(0, /*final=*/true); }

 private:
  Containment() = default;
  void KillLeftovers(pid_t keep, bool final);

  std::string worker_path_;
  std::string cgroup_;  // empty: the fallback
  UniqueFd cgroup_fd_;
};

}  // namespace appkit::guardian

#endif  // APPKIT_GUARDIAN_CONTAINMENT_H_
