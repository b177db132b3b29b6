// common/restart_policy: the backoff formula, jitter bounds, the reset
// after a stable run, the crash-loop limit and the exits that end
// supervision, with a fake clock.
#include "common/process/restart_policy.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace appkit::internal {
namespace {

using Verdict = RestartSchedule::Verdict;

absl::Time T(double seconds) {
  return absl::FromUnixSeconds(1'800'000'000) + absl::Seconds(seconds);
}

TEST(RestartPolicyTest, TheDefaultsAreAFixedIntervalWithoutLimit) {
  RestartSchedule schedule(RestartPolicy{}, absl::Seconds(2), 1);
  for (int i = 0; i < 100; ++i) {
    auto decision = schedule.OnRunEnded(T(i * 3), T(i * 3 + 0.1), 1, true);
    ASSERT_EQ(decision.verdict, Verdict::kRestart);
    EXPECT_EQ(decision.delay, absl::Seconds(2));
  }
}

TEST(RestartPolicyTest, DelaysGrowByTheMultiplierUpToTheCap) {
  RestartPolicy policy;
  policy.backoff_multiplier = 2.0;
  policy.max_delay = absl::Seconds(10);
  RestartSchedule schedule(policy, absl::Seconds(1), 1);
  std::vector<absl::Duration> delays;
  for (int i = 0; i < 6; ++i)
    delays.push_back(schedule.OnRunEnded(T(i), T(i + 0.1), 1, true).delay);
  EXPECT_EQ(delays,
            (std::vector<absl::Duration>{absl::Seconds(1), absl::Seconds(2), absl::Seconds(4),
                                         absl::Seconds(8), absl::Seconds(10), absl::Seconds(10)}));
  EXPECT_EQ(schedule.failures(), 6);
}

TEST(RestartPolicyTest, AStableRunResetsTheDelay) {
  RestartPolicy policy;
  policy.backoff_multiplier = 3.0;
  policy.reset_after = absl::Seconds(30);
  RestartSchedule schedule(policy, absl::Seconds(1), 1);
  schedule.OnRunEnded(T(0), T(1), 1, true);
  EXPECT_EQ(schedule.OnRunEnded(T(2), T(3), 1, true).delay, absl::Seconds(3));
  // Up for 30 s: the next failure is the first again.
  EXPECT_EQ(schedule.OnRunEnded(T(6), T(36), 1, true).delay, absl::Seconds(1));
  EXPECT_EQ(schedule.failures(), 1);
}

TEST(RestartPolicyTest, JitterStaysWithinItsFractionAndVaries) {
  RestartPolicy policy;
  policy.jitter = 0.25;
  RestartSchedule schedule(policy, absl::Seconds(4), 42);
  absl::Duration low = absl::InfiniteDuration(), high = absl::ZeroDuration();
  for (int i = 0; i < 1000; ++i) {
    absl::Duration delay = schedule.OnRunEnded(T(i), T(i), 1, true).delay;
    low = std::min(low, delay);
    high = std::max(high, delay);
  }
  EXPECT_GE(low, absl::Seconds(3));
  EXPECT_LE(high, absl::Seconds(5));
  EXPECT_LT(low, absl::Seconds(3.2));
  EXPECT_GT(high, absl::Seconds(4.8));
}

TEST(RestartPolicyTest, MoreRestartsThanTheLimitWithinTheWindowIsFatal) {
  RestartPolicy policy;
  policy.max_restarts = 3;
  policy.within = absl::Seconds(10);
  RestartSchedule schedule(policy, absl::Seconds(1), 1);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(schedule.OnRunEnded(T(i), T(i + 0.5), 1, true).verdict, Verdict::kRestart);
  }
  auto fatal = schedule.OnRunEnded(T(3), T(3.5), 1, true);
  EXPECT_EQ(fatal.verdict, Verdict::kFatal);
  EXPECT_TRUE(absl::StrContains(fatal.why, "3 restarts within 10s")) << fatal.why;
  // Restart (the RPC) starts over.
  schedule.Reset();
  EXPECT_EQ(schedule.OnRunEnded(T(4), T(4.5), 1, true).verdict, Verdict::kRestart);
}

TEST(RestartPolicyTest, RestartsOutsideTheWindowDoNotCount) {
  RestartPolicy policy;
  policy.max_restarts = 2;
  policy.within = absl::Seconds(10);
  RestartSchedule schedule(policy, absl::Seconds(1), 1);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(schedule.OnRunEnded(T(i * 6), T(i * 6 + 0.5), 1, true).verdict, Verdict::kRestart)
        << i;
  }
}

TEST(RestartPolicyTest, ExitsThatEndSupervision) {
  RestartPolicy policy;
  policy.no_restart_exit_codes = {3, 4};
  RestartSchedule schedule(policy, absl::Seconds(1), 1);
  EXPECT_EQ(schedule.OnRunEnded(T(0), T(1), 0, true).verdict, Verdict::kEnd);
  EXPECT_EQ(schedule.OnRunEnded(T(0), T(1), 0, false).verdict, Verdict::kRestart);  // a worker
  auto ended = schedule.OnRunEnded(T(0), T(1), 4, true);
  EXPECT_EQ(ended.verdict, Verdict::kEnd);
  EXPECT_TRUE(absl::StrContains(ended.why, "exit code 4")) << ended.why;
  EXPECT_EQ(schedule.OnRunEnded(T(0), T(1), -9, true).verdict, Verdict::kRestart);  // a signal
  RestartSchedule never(policy, std::nullopt, 1);
  EXPECT_EQ(never.OnRunEnded(T(0), T(1), 1, true).verdict, Verdict::kEnd);
}

TEST(RestartPolicyTest, ALongIntervalIsNotCutByTheDefaultCap) {
  RestartSchedule schedule(RestartPolicy{}, absl::Minutes(10), 1);
  EXPECT_EQ(schedule.OnRunEnded(T(0), T(1), 1, true).delay, absl::Minutes(10));
}

TEST(RestartPolicyTest, BadPoliciesNameTheField) {
  struct Case {
    RestartPolicy policy;
    const char* culprit;
  };
  std::vector<Case> cases;
  cases.push_back({RestartPolicy{}, ""});
  cases.back().policy.backoff_multiplier = 0.5;
  cases.back().culprit = "restart_policy.backoff_multiplier 0.5";
  cases.push_back({RestartPolicy{}, "restart_policy.jitter 1.5"});
  cases.back().policy.jitter = 1.5;
  cases.push_back({RestartPolicy{}, "restart_policy.max_restarts -1"});
  cases.back().policy.max_restarts = -1;
  cases.push_back({RestartPolicy{}, "restart_policy.within 0"});
  cases.back().policy.within = absl::ZeroDuration();
  cases.push_back({RestartPolicy{}, "restart_policy.no_restart_exit_codes holds 300"});
  cases.back().policy.no_restart_exit_codes = {300};
  for (const Case& c : cases) {
    absl::Status status = CheckRestartPolicy("DaemonOptions.restart_policy", c.policy);
    EXPECT_FALSE(status.ok()) << c.culprit;
    EXPECT_TRUE(absl::StrContains(status.message(), c.culprit)) << status;
  }
  EXPECT_TRUE(CheckRestartPolicy("x", RestartPolicy{}).ok());
}

}  // namespace
}  // namespace appkit::internal
