// WatchPump: the one thread per process that starts the writes of Watch
// streams woken by a publisher (common/control/watch_reactor.h).
//
// A supervisor publishes an event to every subscriber's EventQueue from
// its own loop; a stream that was waiting is woken then. Starting its
// write there would put gRPC's write path (serialization, HTTP/2 framing,
// sendmsg: ~35 us a stream measured here) on the supervisor's loop, once
// per subscriber: 100 subscribers would delay a restart by milliseconds.
// Post hands the wake-up to this thread instead, so the publisher pays a
// queue push per subscriber and never a write. Tasks run in the order
// posted; later writes of a stream continue on gRPC's threads
// (OnWriteDone).
//
// Header-only, as watch_reactor.h (the pool's control-plane plugin and its
// host share no compiled appkit code): each binary gets its own pump,
// started at the first Post (no thread in a process nobody watches) and
// never destroyed (it may run while static destructors do at exit).
// Thread-safe.
#ifndef APPKIT_COMMON_CONTROL_WATCH_PUMP_H_
#define APPKIT_COMMON_CONTROL_WATCH_PUMP_H_

#include <deque>
#include <functional>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace appkit {

class WatchPump {
 public:
  // The process's pump.
  static WatchPump& Get() {
    static WatchPump* const pump = new WatchPump();  // never destroyed
    return *pump;
  }

  // Runs `task` on the pump's thread, after the tasks posted before it.
  void Post(std::function<void()> task) {
    absl::MutexLock lock(&mu_);
    if (!started_) {
      started_ = true;
      std::thread([this] { Run(); }).detach();
    }
    tasks_.push_back(std::move(task));
  }

  WatchPump() = default;  // tests make their own; the product uses Get()
  WatchPump(const WatchPump&) = delete;
  WatchPump& operator=(const WatchPump&) = delete;

 private:
  [[noreturn]] void Run() {
    for (;;) {
      std::function<void()> task;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](std::deque<std::function<void()>>* tasks) { return !tasks->empty(); }, &tasks_));
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace appkit

#endif  // APPKIT_COMMON_CONTROL_WATCH_PUMP_H_
