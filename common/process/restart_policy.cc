#include "common/process/restart_policy.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace appkit::internal {
namespace {

constexpr absl::Duration kMaxDuration = absl::Hours(24 * 365);

absl::Status Invalid(const std::string& option, const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(option, ".", field, " ", why));
}

absl::Status CheckDuration(const std::string& option, const std::string& field,
                           absl::Duration value, bool positive) {
  if (value < absl::ZeroDuration() || (positive && value == absl::ZeroDuration()) ||
      value > kMaxDuration) {
    return Invalid(option, field,
                   absl::StrCat(absl::FormatDuration(value), " is not ",
                                positive ? "in (0, 365d]" : "in [0, 365d]"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckRestartPolicy(const std::string& option, const RestartPolicy& policy) {
  if (!std::isfinite(policy.backoff_multiplier) || policy.backoff_multiplier < 1.0 ||
      policy.backoff_multiplier > 100.0) {
    return Invalid(option, "backoff_multiplier",
                   absl::StrCat(policy.backoff_multiplier, " is not in [1, 100]"));
  }
  if (!std::isfinite(policy.jitter) || policy.jitter < 0.0 || policy.jitter > 1.0) {
    return Invalid(option, "jitter", absl::StrCat(policy.jitter, " is not in [0, 1]"));
  }
  if (absl::Status s = CheckDuration(option, "max_delay", policy.max_delay, true); !s.ok())
    return s;
  if (absl::Status s = CheckDuration(option, "reset_after", policy.reset_after, false); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckDuration(option, "within", policy.within, true); !s.ok()) return s;
  if (policy.max_restarts < 0) {
    return Invalid(option, "max_restarts", absl::StrCat(policy.max_restarts, " is negative"));
  }
  for (int code : policy.no_restart_exit_codes) {
    if (code < 0 || code > 255) {
      return Invalid(option, "no_restart_exit_codes",
                     absl::StrCat("holds ", code, ", not an exit code (0..255)"));
    }
  }
  return absl::OkStatus();
}

RestartSchedule::RestartSchedule(RestartPolicy policy,
                                 std::optional<absl::Duration> restart_interval, uint64_t seed)
    : policy_(std::move(policy)), restart_interval_(restart_interval), random_state_(seed | 1) {}

absl::Duration RestartSchedule::BaseDelay() const {
  const absl::Duration interval = *restart_interval_;
  if (policy_.backoff_multiplier == 1.0 || failures_ <= 1) return interval;
  const absl::Duration cap = std::max(policy_.max_delay, interval);
  const double factor = std::pow(policy_.backoff_multiplier, failures_ - 1);
  if (!std::isfinite(factor) ||
      factor * absl::ToDoubleSeconds(interval) >= absl::ToDoubleSeconds(cap)) {
    return cap;
  }
  return interval * factor;
}

double RestartSchedule::NextUniform() {
  // xorshift64*: reproducible with a seed, no shared state.
  random_state_ ^= random_state_ >> 12;
  random_state_ ^= random_state_ << 25;
  random_state_ ^= random_state_ >> 27;
  const uint64_t bits = random_state_ * 0x2545F4914F6CDD1DULL;
  return static_cast<double>(bits >> 11) / static_cast<double>(1ULL << 53) * 2.0 - 1.0;
}

RestartSchedule::Decision RestartSchedule::OnRunEnded(absl::Time start, absl::Time end,
                                                      int exit_code, bool success_ends) {
  if (!restart_interval_) return Decision{Verdict::kEnd, {}, "no restart_interval"};
  if (exit_code == 0 && success_ends) return Decision{Verdict::kEnd, {}, "exited with code 0"};
  if (exit_code > 0 &&
      std::find(policy_.no_restart_exit_codes.begin(), policy_.no_restart_exit_codes.end(),
                exit_code) != policy_.no_restart_exit_codes.end()) {
    return Decision{
        Verdict::kEnd, {}, absl::StrCat("exit code ", exit_code, " is in no_restart_exit_codes")};
  }
  if (end - start >= policy_.reset_after) {
    // A stable run: the next failure starts from the first delay again.
    failures_ = 0;
    restarts_.clear();
  }
  ++failures_;
  if (policy_.max_restarts > 0) {
    while (!restarts_.empty() && restarts_.front() <= end - policy_.within) restarts_.pop_front();
    if (static_cast<int>(restarts_.size()) >= policy_.max_restarts) {
      return Decision{
          Verdict::kFatal,
          {},
          absl::StrCat(restarts_.size(), " restarts within ", absl::FormatDuration(policy_.within),
                       " (max_restarts ", policy_.max_restarts, "): FATAL")};
    }
    restarts_.push_back(end);
  }
  absl::Duration delay = BaseDelay();
  if (policy_.jitter > 0.0) delay += delay * (policy_.jitter * NextUniform());
  if (delay < absl::ZeroDuration()) delay = absl::ZeroDuration();
  return Decision{Verdict::kRestart, delay,
                  absl::StrCat("restart in ", absl::FormatDuration(delay),
                               failures_ > 1 ? absl::StrCat(" (failure ", failures_, ")") : "")};
}

void RestartSchedule::Reset() {
  failures_ = 0;
  restarts_.clear();
}

}  // namespace appkit::internal
