#include "common/control/event_hub.h"

#include <algorithm>

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
  queues_.clear();
}

int EventHub::subscribers() const {
  absl::MutexLock lock(&mu_);
  int count = 0;
  for (const auto& queue : queues_) count += queue->detached() ? 0 : 1;
  return count;
}

}  // namespace appkit
