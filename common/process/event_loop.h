// EventLoop: one epoll set, one deadline, callbacks on the owner's thread.
//
// The supervisor processes (guardian, controller) each run one EventLoop:
// file descriptors (signalfd, pidfds, pipes, the control socket, an
// eventfd poked by gRPC handlers) and timers (restart_interval,
// stop_timeout) are all events; the loop sleeps in epoll_pwait2 until the
// earliest timer with nanosecond precision, so sub-millisecond intervals
// are honoured and nothing polls.
//
// Not thread-safe: every method must be called on the loop's thread, from
// callbacks or before Run(). Wake() is the one exception (any thread).
#ifndef APPKIT_COMMON_EVENT_LOOP_H_
#define APPKIT_COMMON_EVENT_LOOP_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/base/unique_fd.h"

namespace appkit {

class EventLoop {
 public:
  using Callback = std::function<void()>;
  using TimerId = uint64_t;

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // What a watch waits for: readable (EPOLLIN), or an urgent condition
  // (EPOLLPRI: a kernfs file such as cgroup.events that changed since it
  // was last read; read it again to clear the condition).
  enum class Interest { kReadable, kPriority };

  // Calls `on_event` whenever `fd` is readable (level-triggered), or has
  // the urgent condition for kPriority. The loop does not own `fd`;
  // Unwatch it before closing it.
  absl::Status Watch(int fd, Callback on_event, Interest interest = Interest::kReadable);
  void Unwatch(int fd);

  // Calls `callback` once at `deadline` (or right away if it has passed).
  TimerId AddTimer(absl::Time deadline, Callback callback);
  void CancelTimer(TimerId id);  // no-op for 0 or a timer that fired

  // Runs until Stop(); returns at once if Stop() was already called.
  // Once it returned, it may be run again.
  void Run();
  void Stop() { stopped_ = true; }

  // Makes a blocked Run() return from its wait and re-check; safe from any
  // thread. `on_wake` (set once, before Run) runs on the loop thread.
  void SetWakeHandler(Callback on_wake);
  void Wake();

  // Called right before each wait (`wait`: its longest, InfiniteDuration
  // for "until an fd") and right after it: a loop that waits for its
  // events is not hung (the controller tells its process's watchdog so:
  // common/runtime/supervision.h). Set before Run; none by default.
  void SetWaitHooks(std::function<void(absl::Duration wait)> before_wait, Callback after_wait);

 private:
  void RunDueTimers();

  UniqueFd epoll_fd_;
  UniqueFd wake_fd_;
  Callback on_wake_;
  std::function<void(absl::Duration)> before_wait_;
  Callback after_wait_;
  std::unordered_map<int, std::shared_ptr<Callback>> watches_;
  // (deadline, id) -> callback, earliest first.
  std::map<std::pair<absl::Time, TimerId>, Callback> timers_;
  std::unordered_map<TimerId, absl::Time> timer_deadlines_;
  TimerId next_timer_id_ = 1;
  bool stopped_ = false;
};

}  // namespace appkit

#endif  // APPKIT_COMMON_EVENT_LOOP_H_
