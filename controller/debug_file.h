// DebugFile: the controller's debug file (debug_info.h's JSON), kept up
// to date without costing O(N) per event: after a change it is rendered
// and written at most once per kSpacing, with every change of that window.
// Each rendering is also handed to `publish` (the GetDebugSnapshot RPC's
// copy). Written atomically (common/base/safe_file.h); rendering a large pool
// builds a large JSON tree, whose pages are given back with malloc_trim.
//
// Loop thread only; `render` runs on it.
#ifndef APPKIT_CONTROLLER_DEBUG_FILE_H_
#define APPKIT_CONTROLLER_DEBUG_FILE_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "common/process/event_loop.h"

namespace appkit::controller {

class DebugFile {
 public:
  static constexpr absl::Duration kSpacing = absl::Milliseconds(10);
  // A large pool's file costs milliseconds to render and write: the next
  // write waits at least kSpacingPerCost times what the last one cost, so
  // the file never takes more than a tenth of the loop (a pool of 1000
  // starting would otherwise spend a third of its time here).
  static constexpr int kSpacingPerCost = 10;
  static absl::Duration SpacingAfter(absl::Duration cost);

  using Render = std::function<std::string(absl::Time now)>;
  using Publish = std::function<void(const std::string& json)>;

  // `path`: none for no file (the JSON is still rendered and published).
  DebugFile(EventLoop* loop, std::optional<std::string> path, Render render, Publish publish);
  ~DebugFile();
  DebugFile(const DebugFile&) = delete;
  DebugFile& operator=(const DebugFile&) = delete;

  // Something shown changed: a write is due within kSpacing.
  void MarkChanged();
  // Writes now if anything changed since the last write.
  void Flush();

  int writes() const { return writes_; }

 private:
  void Write();

  EventLoop* const loop_;
  const std::optional<std::string> path_;
  const Render render_;
  const Publish publish_;
  bool dirty_ = false;
  EventLoop::TimerId timer_ = 0;
  absl::Time last_write_ = absl::InfinitePast();
  absl::Duration spacing_ = kSpacing;
  int writes_ = 0;
};

}  // namespace appkit::controller

#endif  // APPKIT_CONTROLLER_DEBUG_FILE_H_
