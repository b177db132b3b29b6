#include "controller/status_board.h"

#include <unistd.h>

#include "absl/time/clock.h"
#include "common/control/event_diff.h"
#include "controller/debug_info.h"
#include "controller/watch_events.h"

namespace appkit::controller {

namespace {

void AppendVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>(value | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

}  // namespace

StatusBoard::StatusBoard(std::vector<WorkerInfo> infos) {
  absl::MutexLock lock(&mu_);  // no watcher yet: no events
  for (WorkerInfo& info : infos) {
    const int index = info.index;
    statuses_[index] = WorkerStatusView(info, WorkerRecord());
    serialized_[index] = statuses_[index].SerializeAsString();
    infos_[index] = std::move(info);
  }
}

void StatusBoard::Publish(int index, const WorkerRecord& record) {
  v1::WorkerStatus status = WorkerStatusView(infos_.at(index), record);
  file_changed_ = true;
  hub_.Publish([&] {
    absl::MutexLock lock(&mu_);
    std::vector<v1::Event> events = WorkerEvents(&statuses_[index], status, absl::Now());
    if (status.current().pid() == statuses_[index].current().pid()) {
      status.set_notify_status(statuses_[index].notify_status());  // same process: still says it
    }
    status.SerializeToString(&serialized_[index]);  // the status file's bytes of it
    statuses_[index].Swap(&status);
    return events;
  });
}  // the old view is freed outside the lock

void StatusBoard::Add(WorkerInfo info) {
  const int index = info.index;
  v1::WorkerStatus status = WorkerStatusView(info, WorkerRecord());
  infos_[index] = std::move(info);
  status.SerializeToString(&serialized_[index]);
  file_changed_ = true;
  hub_.Publish([&] {
    absl::MutexLock lock(&mu_);
    std::vector<v1::Event> events = WorkerEvents(nullptr, status, absl::Now());
    statuses_[index] = std::move(status);
    return events;
  });
}

void StatusBoard::Remove(int index) {
  infos_.erase(index);
  serialized_.erase(index);
  file_changed_ = true;
  google::protobuf::RepeatedPtrField<v1::WorkerStatus> before;
  hub_.Publish([&] {
    absl::MutexLock lock(&mu_);
    auto it = statuses_.find(index);
    if (it == statuses_.end()) return std::vector<v1::Event>();
    before.Add()->Swap(&it->second);
    statuses_.erase(it);
    return PoolEvents(before, google::protobuf::RepeatedPtrField<v1::WorkerStatus>(), absl::Now());
  });
}  // its view is freed outside the lock

bool StatusBoard::HasWorker(const std::string& name) const {
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [index, status] : statuses_) {
    if (status.name() == name) return true;
  }
  return false;
}

void StatusBoard::PublishNotice(int index, v1::EventKind kind, const std::string& text) {
  hub_.Publish([&] {
    absl::MutexLock lock(&mu_);
    auto it = statuses_.find(index);
    if (it == statuses_.end()) return std::vector<v1::Event>();  // removed meanwhile
    v1::WorkerStatus& status = it->second;
    if (kind == v1::EVENT_KIND_STATUS) {
      status.set_notify_status(text);
      status.SerializeToString(&serialized_[index]);
      file_changed_ = true;
    }
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
  quit_for_file_ = true;
  file_changed_ = true;
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
  for (const auto& [index, status] : statuses_) *response.add_workers() = status;
  return response;
}

std::optional<std::string> StatusBoard::TakeStatusFileContent() {
  if (!file_changed_) return std::nullopt;
  file_changed_ = false;
  // ListWorkersResponse's wire form: fields 1 and 3 from a message, then
  // each field-2 entry (tag, length, bytes); field order does not matter
  // to a parser.
  v1::ListWorkersResponse head;
  head.set_controller_pid(getpid());
  head.set_quit_requested(quit_for_file_);
  std::string content = head.SerializeAsString();
  size_t size = content.size();
  for (const auto& [index, bytes] : serialized_) size += bytes.size() + 6;
  content.reserve(size);
  constexpr uint64_t kWorkersTag = (v1::ListWorkersResponse::kWorkersFieldNumber << 3) | 2;
  for (const auto& [index, bytes] : serialized_) {
    AppendVarint(kWorkersTag, &content);
    AppendVarint(bytes.size(), &content);
    content += bytes;
  }
  return content;
}

std::string StatusBoard::DebugJson() const {
  absl::ReaderMutexLock lock(&mu_);
  return debug_json_;
}

std::string StatusBoard::RenderDebugJson(absl::Time now) const {
  std::vector<v1::WorkerStatus> statuses;
  {
    absl::ReaderMutexLock lock(&mu_);
    statuses.reserve(statuses_.size());
    for (const auto& [index, status] : statuses_) statuses.push_back(status);
  }
  return RenderDebugInfo(now, statuses);
}

}  // namespace appkit::controller
