// Containment: the guardian's promise that nothing the daemon's processes
// started outlives an executor run, however it escaped the executor's
// process group (setsid, double fork).
//
// With a usable cgroup2 (common/process/cgroup.h): the daemon's cgroup,
// <guardian's cgroup>/appkit-<pid file base>-<guardian pid>, created at
// start (one left by a dead guardian of our pid is taken over: Clear
// empties it before the first executor); every executor is forked into it
// (cgroup_fd), so everything the entry, its worker pools and their
// workers start is in it or below. After each executor exit everything
// left in it is killed (its cgroups below are removed); at the guardian's
// exit it is removed too. (If the guardian dies by SIGKILL, the executor
// fork server does the same: executor/main.cc.)
// Without (not mounted, not writable, APPKIT_CGROUPS=off): the guardian
// is a child subreaper, so a process that escaped and lost its parent is
// re-parented to it; those are killed at the same moments. What never
// lost its parent (a child of a still-running process that left the
// group) is not found this way until its parent dies.
//
// A clear, in stages (each bounded by kStageWait, then the next):
//   1. cleaners: a worker fork server whose controller died (a child of
//      ours running the worker binary, or a pool cgroup below ours) is
//      killing its workers' groups and removing their pid files
//      (common/process/orphan_cleanup.h): let it finish; SIGKILL at the deadline;
//   2. the cgroup: SIGKILL everything in it (pid by pid while it is kept
//      for the next executor, see common/process/cgroup.h), until it is empty;
//      remove the cgroups below it (and it, at exit);
//   3. our children but `keep`: processes re-parented to us (that left
//      the cgroup, or all of them without one), SIGKILLed round after
//      round until none is left (killing one may hand us its children).
// Between two executors with a cgroup, an empty one (the usual case: the
// executor's group is gone) means nothing to do: no /proc scan at all.
//
// Nothing waits: exits are pidfds, emptiness is cgroup.events, deadlines
// are timers, all watched by the owner's EventLoop. Containment never
// reaps: the owner reaps every child (a zombie counts as gone here).
// Not thread-safe: the loop's thread only.
#ifndef APPKIT_GUARDIAN_CONTAINMENT_H_
#define APPKIT_GUARDIAN_CONTAINMENT_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/base/unique_fd.h"
#include "common/process/event_loop.h"

namespace appkit::guardian {

class Containment {
 public:
  // Creates the daemon's cgroup or chooses the fallback, and logs which
  // (and why). `worker_path`: the worker binary, whose fork servers are
  // let finish. `loop` outlives the Containment. `stage_wait`: the bound
  // of each stage of a clear (shorter in tests).
  static constexpr absl::Duration kStageWait = absl::Seconds(2);
  static std::unique_ptr<Containment> Create(EventLoop* loop, const std::string& pid_filename,
                                             const std::string& worker_path,
                                             absl::Duration stage_wait = kStageWait);
  ~Containment();

  // The cgroup to fork executors into, or -1 (fallback).
  int cgroup_fd() const { return cgroup_fd_.get(); }
  const std::string& cgroup() const { return cgroup_; }

  // Kills what the daemon's processes left (the executor's process group
  // is gone already) and runs `done` when nothing is left or the last
  // deadline passed: from within this call when there is nothing to do.
  // `keep`: the executor fork server (0: none), never killed. `final`:
  // at the guardian's exit, the cgroup is removed too. A clear under way
  // is abandoned for the new one (its `done` never runs).
  void Clear(pid_t keep, bool final, std::function<void()> done);

 private:
  enum class Stage { kIdle, kCleaners, kCgroup, kChildren };
  struct Watched {
    UniqueFd fd;
    pid_t pid = 0;      // a process: fd is its pidfd
    bool gone = false;  // it exited
  };

  Containment(EventLoop* loop, std::string worker_path, absl::Duration stage_wait)
      : loop_(loop), worker_path_(std::move(worker_path)), stage_wait_(stage_wait) {}

  void StartCleaners();
  void StepCleaners(bool expired);
  void StartCgroup();
  void KillPass();
  void StepCgroup(bool expired);
  void EndCgroup();
  void StartChildren();
  void NextRound();
  void StepChildren(bool expired);
  void Finish();

  // What the current stage waits for; each change calls Step.
  void Enter(Stage stage);
  void WatchProcess(pid_t pid, UniqueFd pidfd);
  void WatchCgroup(UniqueFd events);
  bool AllGone() const;
  void StopWatching();
  void Step(bool expired);

  EventLoop* const loop_;
  const std::string worker_path_;
  const absl::Duration stage_wait_;
  std::string cgroup_;  // empty: the fallback
  UniqueFd cgroup_fd_;

  // The clear under way.
  Stage stage_ = Stage::kIdle;
  pid_t keep_ = 0;
  bool final_ = false;
  std::function<void()> done_;
  std::vector<Watched> processes_;
  std::vector<UniqueFd> cgroups_;  // cgroup.events fds
  EventLoop::TimerId deadline_ = 0;
  int killed_ = 0;  // stage 2: processes found in the cgroup
  bool by_cgroup_kill_ = false;
  int round_ = 0;  // stage 3
};

}  // namespace appkit::guardian

#endif  // APPKIT_GUARDIAN_CONTAINMENT_H_
