#include "common/base/log_limiter.h"

#include "gtest/gtest.h"

namespace appkit {
namespace {

TEST(LogLimiterTest, OneLinePerKeyPerPeriodWithTheCountOfTheQuietOnes) {
  LogLimiter limiter(absl::Minutes(1));
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_EQ(limiter.Allow(65534, t0), 0);
  for (int i = 1; i < 200; ++i) {
    EXPECT_EQ(limiter.Allow(65534, t0 + absl::Milliseconds(i)), std::nullopt);
  }
  EXPECT_EQ(limiter.Allow(1000, t0 + absl::Seconds(1)), 0);  // another key: its own line
  EXPECT_EQ(limiter.Allow(65534, t0 + absl::Seconds(61)), 199);
  EXPECT_EQ(limiter.Allow(65534, t0 + absl::Seconds(62)), std::nullopt);
  EXPECT_EQ(limiter.Allow(65534, t0 + absl::Seconds(122)), 1);
}

TEST(LogLimiterTest, ManyKeysStayBounded) {
  LogLimiter limiter(absl::Minutes(1), /*max_keys=*/4);
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  int lines = 0;
  for (uint64_t key = 0; key < 1000; ++key) lines += limiter.Allow(key, t0).has_value();
  EXPECT_EQ(lines, 4);  // the rest are counted under the oldest line
  // A period later, old keys are forgotten and new ones get their line.
  EXPECT_EQ(limiter.Allow(5000, t0 + absl::Minutes(2)), 0);
}

}  // namespace
}  // namespace appkit
