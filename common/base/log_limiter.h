// LogLimiter: at most one log line per key per period, with a count of
// the events it kept quiet about.
//
// For events an outsider can repeat at will (a refused peer, a connection
// over the cap): the first event of a key is logged, the next ones within
// `period` are only counted, and the first one after it is logged with
// that count. Keys are whatever the caller groups by (a uid, a reason).
// Memory is bounded: beyond `max_keys` keys, the ones quiet for a whole
// period are forgotten, and when none is, the new key is counted under the
// oldest. Not thread-safe (one owner thread, like the accept loop).
//
//   if (auto quiet = limiter.Allow(uid)) {
//     spdlog::warn("refused uid {} ({} more refused since the last line)", uid, *quiet);
//   }
#ifndef APPKIT_COMMON_LOG_LIMITER_H_
#define APPKIT_COMMON_LOG_LIMITER_H_

#include <cstdint>
#include <optional>
#include <unordered_map>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace appkit {

class LogLimiter {
 public:
  explicit LogLimiter(absl::Duration period = absl::Minutes(1), size_t max_keys = 256)
      : period_(period), max_keys_(max_keys) {}

  // nullopt: do not log this event (it is counted). Otherwise log it; the
  // value is how many events of `key` were not logged since its last line.
  std::optional<int64_t> Allow(uint64_t key, absl::Time now = absl::Now());

 private:
  struct Entry {
    absl::Time logged_at;
    int64_t quiet = 0;
  };
  const absl::Duration period_;
  const size_t max_keys_;
  std::unordered_map<uint64_t, Entry> entries_;
};

}  // namespace appkit

#endif  // APPKIT_COMMON_LOG_LIMITER_H_
