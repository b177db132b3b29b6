#include "common/process/event_loop.h"
#include "common/base/log.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "absl/time/clock.h"
#include "common/base/errno_status.h"
#include "spdlog/spdlog.h"

namespace appkit {

EventLoop::EventLoop()
    : epoll_fd_(epoll_create1(EPOLL_CLOEXEC)), wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!epoll_fd_ || !wake_fd_) {
    Log().critical("cannot create the event loop: {}", strerror(errno));
    abort();
  }
  absl::Status status = Watch(wake_fd_.get(), [this] {
    uint64_t count;
    (void)!read(wake_fd_.get(), &count, sizeof(count));
    if (on_wake_) on_wake_();
  });
  if (!status.ok()) abort();
}

EventLoop::~EventLoop() = default;

absl::Status EventLoop::Watch(int fd, Callback on_event, Interest interest) {
  epoll_event event = {};
  event.events = interest == Interest::kPriority ? EPOLLPRI : EPOLLIN;
  event.data.fd = fd;
  if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
    return ErrnoStatus(errno, "epoll_ctl(ADD)");
  }
  watches_[fd] = std::make_shared<Callback>(std::move(on_event));
  return absl::OkStatus();
}

void EventLoop::Unwatch(int fd) {
  if (watches_.erase(fd) > 0) epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

EventLoop::TimerId EventLoop::AddTimer(absl::Time deadline, Callback callback) {
  TimerId id = next_timer_id_++;
  timers_.emplace(std::make_pair(deadline, id), std::move(callback));
  timer_deadlines_[id] = deadline;
  return id;
}

void EventLoop::CancelTimer(TimerId id) {
  auto it = timer_deadlines_.find(id);
  if (it == timer_deadlines_.end()) return;
  timers_.erase(std::make_pair(it->second, id));
  timer_deadlines_.erase(it);
}

void EventLoop::SetWakeHandler(Callback on_wake) { on_wake_ = std::move(on_wake); }

void EventLoop::Wake() {
  uint64_t one = 1;
  (void)!write(wake_fd_.get(), &one, sizeof(one));
}

void EventLoop::RunDueTimers() {
  absl::Time now = absl::Now();
  while (!timers_.empty() && timers_.begin()->first.first <= now && !stopped_) {
    auto node = timers_.extract(timers_.begin());
    timer_deadlines_.erase(node.key().second);
    node.mapped()();
  }
}

void EventLoop::SetWaitHooks(std::function<void(absl::Duration wait)> before_wait,
                             Callback after_wait) {
  before_wait_ = std::move(before_wait);
  after_wait_ = std::move(after_wait);
}

void EventLoop::Run() {
  constexpr int kMaxEvents = 64;
  epoll_event events[kMaxEvents];
  while (!stopped_) {
    RunDueTimers();
    if (stopped_) break;
    timespec timeout;
    timespec* timeout_ptr = nullptr;
    if (!timers_.empty()) {
      absl::Duration left = timers_.begin()->first.first - absl::Now();
      if (left < absl::ZeroDuration()) left = absl::ZeroDuration();
      timeout = absl::ToTimespec(left);
      timeout_ptr = &timeout;
    }
    if (before_wait_) {
      before_wait_(timeout_ptr ? absl::DurationFromTimespec(timeout) : absl::InfiniteDuration());
    }
    int n = epoll_pwait2(epoll_fd_.get(), events, kMaxEvents, timeout_ptr, nullptr);
    if (after_wait_) after_wait_();
    if (n < 0) {
      if (errno == EINTR) continue;
      Log().critical("epoll_pwait2 failed: {}", strerror(errno));
      abort();
    }
    for (int i = 0; i < n && !stopped_; ++i) {
      auto it = watches_.find(events[i].data.fd);
      if (it == watches_.end()) continue;
      std::shared_ptr<Callback> callback = it->second;  // survives Unwatch inside
      (*callback)();
    }
  }
  stopped_ = false;
}

}  // namespace appkit
