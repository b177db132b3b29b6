#include "common/process/accept_watch.h"
#include "common/base/log.h"

#include <string.h>

#include <algorithm>

#include "spdlog/spdlog.h"

namespace appkit {

absl::StatusOr<std::unique_ptr<AcceptWatch>> AcceptWatch::Start(EventLoop* loop, int fd,
                                                                std::string what,
                                                                AcceptPending accept_pending,
                                                                Backoff backoff) {
  std::unique_ptr<AcceptWatch> watch(
      new AcceptWatch(loop, fd, std::move(what), std::move(accept_pending), backoff));
  absl::Status watched = loop->Watch(fd, [raw = watch.get()] { raw->OnReadable(); });
  if (!watched.ok()) return watched;
  watch->watching_ = true;
  return watch;
}

AcceptWatch::AcceptWatch(EventLoop* loop, int fd, std::string what, AcceptPending accept_pending,
                         Backoff backoff)
    : loop_(loop),
      fd_(fd),
      what_(std::move(what)),
      accept_pending_(std::move(accept_pending)),
      backoff_(backoff),
      delay_(backoff.first) {}

AcceptWatch::~AcceptWatch() {
  if (watching_) loop_->Unwatch(fd_);
  loop_->CancelTimer(timer_);
}

void AcceptWatch::OnReadable() {
  const int error = accept_pending_();
  if (error != 0) Pause(error);
}

void AcceptWatch::Pause(int error) {
  ++failures_;
  if (watching_) {
    loop_->Unwatch(fd_);
    watching_ = false;
  }
  const absl::Time now = absl::Now();
  if (pause_failures_++ == 0) {
    paused_since_ = reminded_at_ = now;
    delay_ = backoff_.first;
    Log().error(
        "cannot accept connections on {}: {}; not accepting for now (retrying every "
        "{} to {})",
        what_, strerror(error), absl::FormatDuration(backoff_.first),
        absl::FormatDuration(backoff_.max));
  } else {
    delay_ = std::min(delay_ * 2, backoff_.max);
    if (now - reminded_at_ >= backoff_.remind_every) {
      reminded_at_ = now;
      Log().error("still cannot accept connections on {}: {} ({} retries failed in {})", what_,
                  strerror(error), pause_failures_ - 1,
                  absl::FormatDuration(absl::Trunc(now - paused_since_, absl::Seconds(1))));
    }
  }
  timer_ = loop_->AddTimer(now + delay_, [this] { Retry(); });
}

void AcceptWatch::Retry() {
  timer_ = 0;
  const int error = accept_pending_();
  if (error != 0) {
    Pause(error);
    return;
  }
  Log().warn("accepting connections on {} again after {} ({} retries failed)", what_,
             absl::FormatDuration(absl::Trunc(absl::Now() - paused_since_, absl::Milliseconds(1))),
             pause_failures_ - 1);
  pause_failures_ = 0;
  absl::Status watched = loop_->Watch(fd_, [this] { OnReadable(); });
  if (watched.ok()) {
    watching_ = true;
  } else {
    // Cannot happen short of running out of memory: keep retrying by timer.
    Log().error("cannot watch {} again: {}", what_, std::string(watched.message()));
    timer_ = loop_->AddTimer(absl::Now() + backoff_.max, [this] { Retry(); });
  }
}

}  // namespace appkit
