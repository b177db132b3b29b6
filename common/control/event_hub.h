// EventHub: the Watch subscribers of one supervisor (SPEC §9), and the
// lock that makes a subscriber's snapshot and its first event agree.
//
// The supervisor publishes each step as one critical section: `step`
// updates the status that readers see and returns the events that the
// change means (a pure diff: guardian/watch_events.h,
// controller/watch_events.h); each event is pushed to every subscriber's
// queue. Subscribe runs `snapshot` under the same lock and adds the queue,
// so an event is either in the snapshot's state or in the queue, never
// both, never neither. Publishing only appends to bounded queues
// (EventQueue): a subscriber that falls behind is cut, never waited for.
// No gRPC here (the pool's loop links none).
#ifndef APPKIT_COMMON_CONTROL_EVENT_HUB_H_
#define APPKIT_COMMON_CONTROL_EVENT_HUB_H_

#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/control/event_queue.h"
#include "proto/event.pb.h"

namespace appkit {

class EventHub {
 public:
  // Runs `step` and pushes the events it returns (any thread; the
  // supervisor's loop). Drops the queues whose reader has gone.
  void Publish(absl::FunctionRef<std::vector<v1::Event>()> step);

  // Runs `snapshot` and adds `queue` (any thread). After Close, the queue
  // is closed at once: its stream ends after the snapshot.
  void Subscribe(std::shared_ptr<EventQueue> queue, absl::FunctionRef<void()> snapshot);

  // Ends every stream after the events already queued; later subscribers
  // get the snapshot only. Idempotent.
  void Close();

  // After Close: waits (no polling) until every stream it closed has ended
  // (its reader took the last events and the end, and let go), at most
  // `limit`; whether they all did. A stopping supervisor calls it before it
  // stops gRPC, whose grace is for calls in flight, not for subscribers
  // still taking their last events on a loaded machine; a subscriber that
  // does not read holds the stop `limit` at most.
  bool AwaitClosedStreams(absl::Duration limit);
  // The limit a stopping supervisor gives it.
  static constexpr absl::Duration kStopDrain = absl::Seconds(1);

  // Subscribers still attached (for tests and benchmarks).
  int subscribers() const;

 private:
  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<EventQueue>> queues_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<EventQueue>> closed_queues_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace appkit

#endif  // APPKIT_COMMON_CONTROL_EVENT_HUB_H_
