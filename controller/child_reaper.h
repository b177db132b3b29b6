// ChildReaper: reaps children of this process through the owner's
// EventLoop, never waiting: each child's pidfd is watched and the child
// is reaped (waitid WNOHANG) once it is readable. Where no pidfd can be
// opened (the fd table is full), a loop timer retries the same
// non-blocking waitid every few milliseconds until the child is gone.
//
// The controller gives it what it reaps that is not a worker: the worker
// fork servers it replaces, the children of fork requests that were voided
// (they leave at once without running, see common/process/fork_server.h), and a
// worker it could not watch.
//
// Loop thread only.
#ifndef APPKIT_CONTROLLER_CHILD_REAPER_H_
#define APPKIT_CONTROLLER_CHILD_REAPER_H_

#include <sys/types.h>

#include <functional>
#include <unordered_map>

#include "common/base/unique_fd.h"
#include "common/process/event_loop.h"
#include "common/process/spawn.h"

namespace appkit::controller {

class ChildReaper {
 public:
  // How the child ended; code 255 "status unknown" when someone else
  // reaped it (SIGCHLD ignored in this process).
  using OnReaped = std::function<void(const ProcessExit& exit)>;

  explicit ChildReaper(EventLoop* loop) : loop_(loop) {}
  // Children still watched stay unreaped.
  ~ChildReaper();
  ChildReaper(const ChildReaper&) = delete;
  ChildReaper& operator=(const ChildReaper&) = delete;

  // Reaps `pid` (a child of this process) once it exits, then runs
  // `on_reaped` on the loop thread (never from within this call). A pid
  // already watched keeps its first callback.
  void Reap(pid_t pid, OnReaped on_reaped = nullptr);

  bool reaping(pid_t pid) const { return children_.count(pid) != 0; }
  bool idle() const { return children_.empty(); }
  // Runs each time the last child watched is reaped (after its callback).
  void SetOnIdle(std::function<void()> on_idle) { on_idle_ = std::move(on_idle); }

 private:
  struct Child {
    UniqueFd pidfd;
    EventLoop::TimerId retry = 0;
    OnReaped on_reaped;
  };
  void Check(pid_t pid);
  void Retry(pid_t pid, Child& child);

  EventLoop* const loop_;
  std::unordered_map<pid_t, Child> children_;
  std::function<void()> on_idle_;
};

}  // namespace appkit::controller

#endif  // APPKIT_CONTROLLER_CHILD_REAPER_H_
