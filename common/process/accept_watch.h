// AcceptWatch: a listening socket in an EventLoop that backs off, instead
// of spinning, while accept() fails for want of resources.
//
// The loop is level-triggered: a pending connection that accept() cannot
// take (EMFILE, ENFILE, ENOBUFS, ENOMEM) keeps the socket readable, and
// calling accept() again at once would spin a core and flood the log. So
// when `accept_pending` reports such an error, the socket is unwatched and
// watched again from a timer: 100 ms, doubling up to 1 s while the error
// persists. Logged once when a pause starts (the errno), once a minute
// while it lasts, and once when accepting works again (with how many
// retries failed and for how long); never once per attempt.
//
// `accept_pending` accepts every pending connection and returns 0 once
// accept() said EAGAIN, or the errno that stopped it (any errno but
// EAGAIN, EINTR and ECONNABORTED pauses: none of them may spin).
// Both users share this: the guardian (ControlServer::AcceptPending) and
// the worker pool (ControlPlane::AcceptPending, the gRPC plugin's).
// Loop thread only; destroy it before closing `fd`.
#ifndef APPKIT_COMMON_ACCEPT_WATCH_H_
#define APPKIT_COMMON_ACCEPT_WATCH_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/process/event_loop.h"

namespace appkit {

struct AcceptBackoff {
  absl::Duration first = absl::Milliseconds(100);
  absl::Duration max = absl::Seconds(1);
  absl::Duration remind_every = absl::Minutes(1);
};

class AcceptWatch {
 public:
  using AcceptPending = std::function<int()>;
  using Backoff = AcceptBackoff;

  // Watches `fd` on `loop`; `what` names the socket in log lines.
  static absl::StatusOr<std::unique_ptr<AcceptWatch>> Start(EventLoop* loop, int fd,
                                                            std::string what,
                                                            AcceptPending accept_pending,
                                                            Backoff backoff = Backoff());
  ~AcceptWatch();
  AcceptWatch(const AcceptWatch&) = delete;
  AcceptWatch& operator=(const AcceptWatch&) = delete;

  bool paused() const { return timer_ != 0; }
  // accept() failures (first ones and failed retries) since Start.
  int64_t failures() const { return failures_; }

 private:
  AcceptWatch(EventLoop* loop, int fd, std::string what, AcceptPending accept_pending,
              Backoff backoff);
  void OnReadable();
  void Pause(int error);
  void Retry();

  EventLoop* const loop_;
  const int fd_;
  const std::string what_;
  const AcceptPending accept_pending_;
  const Backoff backoff_;
  bool watching_ = false;
  EventLoop::TimerId timer_ = 0;
  absl::Duration delay_;
  // The current pause.
  absl::Time paused_since_;
  absl::Time reminded_at_;
  int64_t pause_failures_ = 0;
  int64_t failures_ = 0;
};

}  // namespace appkit

#endif  // APPKIT_COMMON_ACCEPT_WATCH_H_
