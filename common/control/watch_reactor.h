// WatchReactor: the server side of one Watch stream (Guardian.Watch,
// Controller.Watch; SPEC §9), as a gRPC callback reactor: a subscriber
// costs its queue and the call's memory, never a thread, however many
// there are (common/control/control_server.h).
//
// The stream writes `first` (the snapshot), then each event that its
// EventQueue yields, one write at a time; the queue wakes the reactor when
// it has more (on the WatchPump's thread: the publisher never starts a
// write). It ends with OK when the publisher closes the queue (the
// supervisor is done), with RESOURCE_EXHAUSTED when the subscriber fell
// behind (its queue overflowed), and when the client goes. Usage:
//
//   auto queue = std::make_shared<EventQueue>();
//   auto* reactor = new WatchReactor<v1::GuardianEvent>(queue, &WrapEvent);
//   hub.Subscribe(queue, [&] { *reactor->first()->mutable_snapshot() = ...; });
//   reactor->Begin();
//   return reactor;
#ifndef APPKIT_COMMON_CONTROL_WATCH_REACTOR_H_
#define APPKIT_COMMON_CONTROL_WATCH_REACTOR_H_

#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/control/event_queue.h"
#include "common/control/watch_pump.h"
#include "grpcpp/support/server_callback.h"
#include "proto/event.pb.h"

namespace appkit {

template <typename Message>
class WatchReactor final : public grpc::ServerWriteReactor<Message> {
 public:
  // Puts an event into a stream message (its `event` field).
  using Wrap = void (*)(v1::Event event, Message* message);

  WatchReactor(std::shared_ptr<EventQueue> queue, Wrap wrap)
      : queue_(std::move(queue)), wrap_(wrap), state_(std::make_shared<State>()) {
    absl::MutexLock lock(&state_->mu);
    state_->reactor = this;
    // The publisher's thread only posts the wake-up (watch_pump.h).
    queue_->SetWaker([state = state_] { WatchPump::Get().Post([state] { Wake(*state); }); });
  }

  // The snapshot, to fill before Begin.
  Message* first() { return &sending_; }

  // Writes the snapshot; events follow.
  void Begin() {
    absl::MutexLock lock(&state_->mu);
    state_->started = true;
    state_->writing = true;
    this->StartWrite(&sending_);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&state_->mu);
    state_->writing = false;
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
      return;
    }
    Pump();
  }

  void OnCancel() override {
    absl::MutexLock lock(&state_->mu);
    if (!state_->writing) FinishLocked(grpc::Status::CANCELLED);
    // else OnWriteDone(false) finishes it
  }

  void OnDone() override {
    queue_->Detach();
    {
      absl::MutexLock lock(&state_->mu);
      state_->reactor = nullptr;
    }
    delete this;
  }

 private:
  struct State {
    absl::Mutex mu;
    WatchReactor* reactor ABSL_GUARDED_BY(mu) = nullptr;
    bool started ABSL_GUARDED_BY(mu) = false;
    bool writing ABSL_GUARDED_BY(mu) = false;
    bool finished ABSL_GUARDED_BY(mu) = false;
  };

  // The queue has more: pump, unless the reactor is gone (OnDone).
  // state.reactor->state_ is &state, which the analysis cannot tell.
  static void Wake(State& state) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    absl::MutexLock lock(&state.mu);
    if (state.reactor != nullptr) state.reactor->Pump();
  }

  // Writes the next event, or ends the stream (state_->mu held).
  void Pump() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu) {
    if (!state_->started || state_->writing || state_->finished) return;
    v1::Event event;
    switch (queue_->Take(&event)) {
      case EventQueue::Next::kEvent:
        sending_.Clear();
        wrap_(std::move(event), &sending_);
        state_->writing = true;
        this->StartWrite(&sending_);
        return;
      case EventQueue::Next::kWait:
        return;
      case EventQueue::Next::kEnd:
        FinishLocked(grpc::Status::OK);
        return;
      case EventQueue::Next::kOverflow:
        FinishLocked(grpc::Status(
            grpc::StatusCode::RESOURCE_EXHAUSTED,
            absl::StrCat("this watcher fell behind: more than ", EventQueue::kDefaultCapacity,
                         " events were waiting for it; watch again (the snapshot comes first)")));
        return;
    }
  }

  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu) {
    if (state_->finished) return;
    state_->finished = true;
    this->Finish(status);
  }

  const std::shared_ptr<EventQueue> queue_;
  const Wrap wrap_;
  const std::shared_ptr<State> state_;
  Message sending_;  // the message being written (one at a time)
};

}  // namespace appkit

#endif  // APPKIT_COMMON_CONTROL_WATCH_REACTOR_H_
