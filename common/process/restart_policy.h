// RestartPolicy (public, in DaemonOptions and WorkersOptions) and the
// arithmetic that applies it to one supervised process: when to restart
// after a run ends, when to give up (FATAL), when to stop for good.
//
//   delay = restart_interval * backoff_multiplier^(failures - 1),
//           at most max(max_delay, restart_interval), then varied by up to
//           +-jitter of itself;
//   a run that lasted reset_after or more resets the failure count and the
//   crash-loop window;
//   more than max_restarts restarts within `within` -> FATAL;
//   an exit code in no_restart_exit_codes ends supervision as exit 0 does.
// The defaults are a fixed restart_interval and no limit (pyappkit's
// behaviour). RestartSchedule is pure (no clock, a seeded generator) and
// not thread-safe: the supervisor's loop owns one per process.
#ifndef APPKIT_COMMON_RESTART_POLICY_H_
#define APPKIT_COMMON_RESTART_POLICY_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/runtime/supervision.h"

namespace appkit {

namespace internal {

// Errors name `option` and the field ("DaemonOptions.restart_policy.jitter 1.5 is not in [0, 1]").
absl::Status CheckRestartPolicy(const std::string& option, const RestartPolicy& policy);

class RestartSchedule {
 public:
  enum class Verdict {
    kRestart,  // restart after `delay`
    kFatal,    // the crash-loop limit is reached: restart nothing until Reset
    kEnd,      // supervision ends (no restart_interval, or an exit that ends it)
  };
  struct Decision {
    Verdict verdict;
    absl::Duration delay = absl::ZeroDuration();  // kRestart
    std::string why;  // "restart in 1.5s (failure 3)", "5 restarts within 1m: FATAL", ...
  };

  // `restart_interval` unset: never restart. `seed` drives the jitter.
  RestartSchedule(RestartPolicy policy, std::optional<absl::Duration> restart_interval,
                  uint64_t seed);

  // A run from `start` to `end` ended with `exit_code` (pyappkit's
  // exitcode: minus the signal for a signal). `success_ends`: a daemon
  // ends on exit 0; a worker is restarted whatever its exit.
  Decision OnRunEnded(absl::Time start, absl::Time end, int exit_code, bool success_ends);

  // After FATAL, a Restart request: the count and the window start over.
  void Reset();

  int failures() const { return failures_; }

 private:
  absl::Duration BaseDelay() const;
  double NextUniform();  // in [-1, 1]

  const RestartPolicy policy_;
  const std::optional<absl::Duration> restart_interval_;
  uint64_t random_state_;
  int failures_ = 0;                 // consecutive short runs
  std::deque<absl::Time> restarts_;  // within the crash-loop window
};

}  // namespace internal
}  // namespace appkit

#endif  // APPKIT_COMMON_RESTART_POLICY_H_
