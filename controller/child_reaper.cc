#include "controller/child_reaper.h"

#include <errno.h>
#include <sys/wait.h>

#include "absl/time/clock.h"
#include "common/pidfd.h"

namespace appkit::controller {
namespace {

constexpr absl::Duration kRetryInterval = absl::Milliseconds(5);

}  // namespace

ChildReaper::~ChildReaper() {
  for (auto& [pid, child] : children_) {
    if (child.pidfd) loop_->Unwatch(child.pidfd.get());
    loop_->CancelTimer(child.retry);
  }
}

void ChildReaper::Reap(pid_t pid, OnReaped on_reaped) {
  auto [it, added] = children_.try_emplace(pid);
  if (!added) return;
  Child& child = it->second;
  child.on_reaped = std::move(on_reaped);
  child.pidfd = OpenPidfd(pid);
  if (child.pidfd && loop_->Watch(child.pidfd.get(), [this, pid] { Check(pid); }).ok()) return;
  child.pidfd.reset();
  Retry(pid, child);
}

void ChildReaper::Retry(pid_t pid, Child& child) {
  child.retry = loop_->AddTimer(absl::Now() + kRetryInterval, [this, pid] {
    auto it = children_.find(pid);
    if (it == children_.end()) return;
    it->second.retry = 0;
    Check(pid);
  });
}

void ChildReaper::Check(pid_t pid) {
  auto it = children_.find(pid);
  if (it == children_.end()) return;
  siginfo_t info = {};
  ProcessExit exit;
  if (waitid(P_PID, pid, &info, WEXITED | WNOHANG) == 0) {
    if (info.si_pid == 0) {  // not yet (a spurious wake-up, or the retry timer)
      if (!it->second.pidfd) Retry(pid, it->second);
      return;
    }
    exit = ProcessExit::FromSiginfo(info);
  } else if (errno == EINTR) {
    if (!it->second.pidfd) Retry(pid, it->second);
    return;
  } else {
    exit.code = 255;  // reaped elsewhere
  }
  Child child = std::move(it->second);
  children_.erase(it);
  if (child.pidfd) loop_->Unwatch(child.pidfd.get());
  if (child.on_reaped) child.on_reaped(exit);
  if (children_.empty() && on_idle_) on_idle_();
}

}  // namespace appkit::controller
