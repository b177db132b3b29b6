#include "common/control/event_hub.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace appkit {

void EventHub::Publish(absl::FunctionRef<std::vector<v1::Event>()> step) {
  absl::MutexLock lock(&mu_);
  std::vector<v1::Event> events = step();
  queues_.erase(std::remove_if(queues_.begin(), queues_.end(),
                               [](const std::shared_ptr<EventQueue>& queue) {
                                 return queue->detached() || queue->overflowed();
                               }),
                queues_.end());
  for (const v1::Event& event : events) {
    for (const auto& queue : queues_) queue->Push(event);
  }
}

void EventHub::Subscribe(std::shared_ptr<EventQueue> queue, absl::FunctionRef<void()> snapshot) {
  absl::MutexLock lock(&mu_);
  snapshot();
  if (closed_) {
    queue->Close();
    return;
  }
  queues_.push_back(std::move(queue));
}

void EventHub::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  for (const auto& queue : queues_) queue->Close();
  closed_queues_.insert(closed_queues_.end(), queues_.begin(), queues_.end());
  queues_.clear();
}

bool EventHub::AwaitClosedStreams(absl::Duration limit) {
  std::vector<std::shared_ptr<EventQueue>> closed;
  {
    absl::MutexLock lock(&mu_);
    closed.swap(closed_queues_);
  }
  const absl::Time deadline = absl::Now() + limit;
  bool all = true;
  for (const auto& queue : closed) all = queue->AwaitDetached(deadline) && all;
  return all;
}

int EventHub::subscribers() const {
  absl::MutexLock lock(&mu_);
  int count = 0;
  for (const auto& queue : queues_) count += queue->detached() ? 0 : 1;
  return count;
}

}  // namespace appkit
