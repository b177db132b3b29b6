#include "controller/status_board.h"

#include <unistd.h>

namespace appkit::controller {

StatusBoard::StatusBoard(std::vector<WorkerInfo> infos) : infos_(std::move(infos)) {
  absl::MutexLock lock(&mu_);
  records_.resize(infos_.size());
}

void StatusBoard::Publish(int index, const WorkerRecord& record) {
  absl::MutexLock lock(&mu_);
  records_[index] = record;
}

void StatusBoard::PublishQuitRequested() {
  absl::MutexLock lock(&mu_);
  quit_requested_ = true;
}

void StatusBoard::PublishDebugJson(std::string json) {
  absl::MutexLock lock(&mu_);
  debug_json_ = std::move(json);
}

std::vector<WorkerRecord> StatusBoard::Records() const {
  absl::ReaderMutexLock lock(&mu_);
  return records_;
}

v1::ListWorkersResponse StatusBoard::ListWorkers() const {
  bool quit_requested;
  std::vector<WorkerRecord> records;
  {
    absl::ReaderMutexLock lock(&mu_);
    quit_requested = quit_requested_;
    records = records_;
  }
  return ListWorkersView(getpid(), quit_requested, infos_, records);
}

std::string StatusBoard::DebugJson() const {
  absl::ReaderMutexLock lock(&mu_);
  return debug_json_;
}

std::string StatusBoard::RenderDebugJson(absl::Time now) const {
  return DebugJsonView(now, infos_, Records());
}

}  // namespace appkit::controller
