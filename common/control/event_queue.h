// EventQueue: the bounded queue of one Watch subscriber (SPEC §9).
//
// The supervisor's loop pushes events (EventHub::Publish); the subscriber's
// stream takes them on gRPC's threads. Push never blocks on the stream and
// never waits for a client: it appends under a short lock, or, when the
// queue is full, marks it overflowed (the stream then ends with
// RESOURCE_EXHAUSTED once it asks for the next event, and takes no more).
// Each pushed event gets the next sequence number of this stream: 1, 2,
// 3, ... (the snapshot is 0), so a client sees no gap and no duplicate.
//
// Take tells the reader what comes next. When nothing is there (kWait) the
// queue remembers that the reader waits, and the next Push, Close or
// overflow calls the waker once (outside the lock), so the reader asks
// again; no thread sleeps on the queue.
//
// Header-only: the pool's control-plane plugin takes events from queues
// that the host binary fills (controller/control_plane.h), and the two
// share no compiled appkit code.
#ifndef APPKIT_COMMON_CONTROL_EVENT_QUEUE_H_
#define APPKIT_COMMON_CONTROL_EVENT_QUEUE_H_

#include <stddef.h>
#include <stdint.h>

#include <deque>
#include <functional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "proto/event.pb.h"

namespace appkit {

class EventQueue {
 public:
  // Events held at most: beyond, the subscriber has fallen behind.
  static constexpr size_t kDefaultCapacity = 256;

  enum class Next {
    kEvent,     // *event is the next one
    kWait,      // none yet: the waker runs when that changes
    kEnd,       // the publisher closed the stream and every event was taken
    kOverflow,  // the subscriber fell behind: end its stream (RESOURCE_EXHAUSTED)
  };

  explicit EventQueue(size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  // The reader's waker (set once, before the queue is subscribed).
  void SetWaker(std::function<void()> waker) { waker_ = std::move(waker); }

  // The publisher. Sets event.sequence.
  void Push(v1::Event event) {
    {
      absl::MutexLock lock(&mu_);
      if (closed_ || overflowed_ || detached_) return;
      if (events_.size() >= capacity_) {
        overflowed_ = true;
        events_.clear();
      } else {
        event.set_sequence(next_sequence_++);
        events_.push_back(std::move(event));
      }
      if (!waiting_) return;
      waiting_ = false;
    }
    if (waker_) waker_();
  }

  // The publisher: no more events; the reader ends after the queued ones.
  void Close() {
    {
      absl::MutexLock lock(&mu_);
      if (closed_) return;
      closed_ = true;
      if (!waiting_) return;
      waiting_ = false;
    }
    if (waker_) waker_();
  }

  // The reader.
  Next Take(v1::Event* event) {
    absl::MutexLock lock(&mu_);
    if (overflowed_) return Next::kOverflow;
    if (!events_.empty()) {
      *event = std::move(events_.front());
      events_.pop_front();
      return Next::kEvent;
    }
    if (closed_) return Next::kEnd;
    waiting_ = true;
    return Next::kWait;
  }

  // The reader is gone: the publisher drops the queue at its next Publish.
  void Detach() {
    absl::MutexLock lock(&mu_);
    detached_ = true;
    events_.clear();
  }
  bool detached() const {
    absl::MutexLock lock(&mu_);
    return detached_;
  }
  // Waits (no polling) until the reader is gone, or `deadline`: whether
  // it is.
  bool AwaitDetached(absl::Time deadline) const {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithDeadline(absl::Condition(&detached_), deadline);
  }
  bool overflowed() const {
    absl::MutexLock lock(&mu_);
    return overflowed_;
  }
  size_t size() const {
    absl::MutexLock lock(&mu_);
    return events_.size();
  }

 private:
  const size_t capacity_;
  std::function<void()> waker_;
  mutable absl::Mutex mu_;
  std::deque<v1::Event> events_ ABSL_GUARDED_BY(mu_);
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 1;
  bool waiting_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool overflowed_ ABSL_GUARDED_BY(mu_) = false;
  bool detached_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace appkit

#endif  // APPKIT_COMMON_CONTROL_EVENT_QUEUE_H_
