#include "controller/debug_file.h"

#include <malloc.h>

#include <algorithm>

#include "absl/time/clock.h"
#include "common/base/log.h"
#include "common/base/safe_file.h"

namespace appkit::controller {
namespace {

constexpr size_t kTrimAbove = 256 << 10;  // bytes of JSON

}  // namespace

DebugFile::DebugFile(EventLoop* loop, std::optional<std::string> path, Render render,
                     Publish publish)
    : loop_(loop),
      path_(std::move(path)),
      render_(std::move(render)),
      publish_(std::move(publish)) {}

DebugFile::~DebugFile() { loop_->CancelTimer(timer_); }

void DebugFile::MarkChanged() {
  dirty_ = true;
  if (timer_ != 0) return;
  timer_ = loop_->AddTimer(std::max(absl::Now(), last_write_ + spacing_), [this] {
    timer_ = 0;
    Write();
  });
}

void DebugFile::Flush() {
  loop_->CancelTimer(timer_);
  timer_ = 0;
  Write();
}

void DebugFile::Write() {
  if (!dirty_) return;
  dirty_ = false;
  const absl::Time now = absl::Now();
  ++writes_;
  const std::string json = render_(now);
  publish_(json);
  if (path_) {
    absl::Status written = WriteFileAtomically(*path_, json, "debug file");
    if (!written.ok()) Log().warn("{}", std::string(written.message()));
  }
  if (json.size() > kTrimAbove) malloc_trim(0);
  last_write_ = absl::Now();
  spacing_ = SpacingAfter(last_write_ - now);
}

absl::Duration DebugFile::SpacingAfter(absl::Duration cost) {
  return std::max(kSpacing, cost * kSpacingPerCost);
}

}  // namespace appkit::controller
