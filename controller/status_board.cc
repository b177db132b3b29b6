#include "controller/status_board.h"

#include <unistd.h>

#include "absl/time/clock.h"
#include "common/control/event_diff.h"
#include "controller/debug_info.h"
#include "controller/watch_events.h"

namespace appkit::controller {

StatusBoard::StatusBoard(std::vector<WorkerInfo> infos) : infos_(std::move(infos)) {
  std::vector<v1::WorkerStatus> statuses;
  statuses.reserve(infos_.size());
  for (const WorkerInfo& info : infos_) statuses.push_back(WorkerStatusView(info, WorkerRecord()));
  absl::MutexLock lock(&mu_);
  statuses_ = std::move(statuses);
}

void StatusBoard::Publish(int index, const WorkerRecord& record) {
  v1::WorkerStatus status = WorkerStatusView(infos_[index], record);
  hub_.Publish([&] {
    absl::MutexLock lock(&mu_);
    std::vector<v1::Event> events = WorkerEvents(&statuses_[index], status, absl::Now());
    if (status.current().pid() == statuses_[index].current().pid()) {
      status.set_notify_status(statuses_[index].notify_status());  // same process: still says it
    }
    statuses_[index].Swap(&status);
    return events;
  });
}  // the old view is freed outside the lock

void StatusBoard::PublishNotice(int index, v1::EventKind kind, const std::string& text) {
  hub_.Publish([&] {
    absl::MutexLock lock(&mu_);
    v1::WorkerStatus& status = statuses_[index];
    if (kind == v1::EVENT_KIND_STATUS) status.set_notify_status(text);
    v1::Event event = MakeEvent(
        kind, status.name(), ShortStateName(v1::WorkerState_Name(status.state()), "WORKER_STATE_"),
        absl::Now());
    event.set_pid(status.current().pid());
    event.set_description(text);
    return std::vector<v1::Event>{std::move(event)};
  });
}

void StatusBoard::CloseWatchers() { hub_.Close(); }

v1::ListWorkersResponse StatusBoard::Watch(std::shared_ptr<EventQueue> queue) {
  v1::ListWorkersResponse snapshot;
  hub_.Subscribe(std::move(queue), [&] { snapshot = ListWorkers(); });
  return snapshot;
}

void StatusBoard::PublishQuitRequested() {
  absl::MutexLock lock(&mu_);
  quit_requested_ = true;
}

void StatusBoard::PublishDebugJson(std::string json) {
  absl::MutexLock lock(&mu_);
  debug_json_ = std::move(json);
}

v1::ListWorkersResponse StatusBoard::ListWorkers() const {
  v1::ListWorkersResponse response;
  response.set_controller_pid(getpid());
  absl::ReaderMutexLock lock(&mu_);
  response.set_quit_requested(quit_requested_);
  response.mutable_workers()->Reserve(static_cast<int>(statuses_.size()));
  for (const v1::WorkerStatus& status : statuses_) *response.add_workers() = status;
  return response;
}

std::string StatusBoard::DebugJson() const {
  absl::ReaderMutexLock lock(&mu_);
  return debug_json_;
}

std::string StatusBoard::RenderDebugJson(absl::Time now) const {
  std::vector<v1::WorkerStatus> statuses;
  {
    absl::ReaderMutexLock lock(&mu_);
    statuses = statuses_;
  }
  return RenderDebugInfo(now, statuses);
}

}  // namespace appkit::controller
