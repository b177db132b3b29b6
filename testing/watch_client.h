// WatchClient: follows one Guardian.Watch or Controller.Watch stream
// (SPEC §9) on its own thread, for tests and benchmarks: the snapshot, each
// event with the time it arrived, and how the stream ended. Waits use the
// client's mutex (no polling). The stream is cancelled and the thread
// joined by the destructor.
//
//   WatchClient<v1::GuardianEvent> watch([&](grpc::ClientContext* c) {
//     return stub->Watch(c, v1::WatchRequest());
//   });
//   watch.WaitForSnapshot(absl::Seconds(5));
//   watch.WaitFor([](const auto& events) { return events.size() >= 3; }, absl::Seconds(5));
//
// `paused`: the stream is opened, but nothing is read until Resume (a
// subscriber that falls behind).
#ifndef APPKIT_TESTING_WATCH_CLIENT_H_
#define APPKIT_TESTING_WATCH_CLIENT_H_

#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/sync_stream.h"
#include "proto/event.pb.h"

namespace appkit::testing {

template <typename Message>
class WatchClient {
 public:
  using Open = std::function<std::unique_ptr<grpc::ClientReader<Message>>(grpc::ClientContext*)>;

  explicit WatchClient(Open open, bool paused = false) : paused_(paused) {
    thread_ = std::thread([this, open = std::move(open)] { Follow(open); });
  }
  ~WatchClient() {
    context_.TryCancel();
    Resume();
    thread_.join();
  }
  WatchClient(const WatchClient&) = delete;
  WatchClient& operator=(const WatchClient&) = delete;

  void Resume() {
    absl::MutexLock lock(&mu_);
    paused_ = false;
  }
  // Set once the stream is open (the call started).
  bool WaitForOpen(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&open_), timeout);
  }
  bool WaitForSnapshot(absl::Duration timeout) {
    return WaitUntil([this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return snapshot_.has_value(); },
                     timeout);
  }
  // Until `condition(events)` holds or the stream ended.
  bool WaitFor(const std::function<bool(const std::vector<v1::Event>&)>& condition,
               absl::Duration timeout) {
    return WaitUntil([&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return condition(events_); }, timeout);
  }
  // Until the stream ended; its status then.
  std::optional<grpc::Status> WaitForEnd(absl::Duration timeout) {
    WaitUntil([this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return false; }, timeout);
    absl::MutexLock lock(&mu_);
    return status_;
  }

  std::optional<Message> snapshot() const {
    absl::MutexLock lock(&mu_);
    return snapshot_;
  }
  std::vector<v1::Event> events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  // When each event arrived (absl::Now() right after Read), by index.
  std::vector<absl::Time> arrivals() const {
    absl::MutexLock lock(&mu_);
    return arrivals_;
  }
  // Messages that were neither the first snapshot nor an event.
  int unexpected() const {
    absl::MutexLock lock(&mu_);
    return unexpected_;
  }

 private:
  bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto done = [&]()
                    ABSL_SHARED_LOCKS_REQUIRED(mu_) { return status_.has_value() || condition(); };
    mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
    return condition();
  }

  void Follow(const Open& open) {
    auto stream = open(&context_);
    {
      absl::MutexLock lock(&mu_);
      open_ = true;
      mu_.Await(absl::Condition(
          +[](bool* paused) { return !*paused; }, &paused_));
    }
    Message message;
    while (stream->Read(&message)) {
      const absl::Time now = absl::Now();
      absl::MutexLock lock(&mu_);
      if (!snapshot_ && message.has_snapshot() && events_.empty()) {
        snapshot_ = message;
      } else if (snapshot_ && message.has_event()) {
        events_.push_back(message.event());
        arrivals_.push_back(now);
      } else {
        ++unexpected_;
      }
    }
    grpc::Status status = stream->Finish();
    absl::MutexLock lock(&mu_);
    status_ = status;
  }

  grpc::ClientContext context_;
  mutable absl::Mutex mu_;
  bool paused_ ABSL_GUARDED_BY(mu_);
  bool open_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<Message> snapshot_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::Event> events_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Time> arrivals_ ABSL_GUARDED_BY(mu_);
  int unexpected_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<grpc::Status> status_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace appkit::testing

#endif  // APPKIT_TESTING_WATCH_CLIENT_H_
