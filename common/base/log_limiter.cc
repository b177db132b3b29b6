#include "common/base/log_limiter.h"

#include <algorithm>

namespace appkit {

std::optional<int64_t> LogLimiter::Allow(uint64_t key, absl::Time now) {
  auto it = entries_.find(key);
  if (it == entries_.end() && entries_.size() >= max_keys_) {
    // Forget the keys quiet for a whole period (their count is lost: they
    // had nothing pending worth a line of its own).
    for (auto e = entries_.begin(); e != entries_.end();) {
      e = now - e->second.logged_at >= period_ ? entries_.erase(e) : std::next(e);
    }
    if (entries_.size() >= max_keys_) {
      // Every key is busy: count this one under the oldest line.
      it = std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
        return a.second.logged_at < b.second.logged_at;
      });
    }
  }
  if (it == entries_.end()) {
    entries_.emplace(key, Entry{now, 0});
    return 0;
  }
  Entry& entry = it->second;
  if (now - entry.logged_at < period_) {
    ++entry.quiet;
    return std::nullopt;
  }
  const int64_t quiet = entry.quiet;
  entry = Entry{now, 0};
  return quiet;
}

}  // namespace appkit
