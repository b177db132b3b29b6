// common/control/health_service: what HealthState answers and tells its
// watchers (the gRPC side, Check and a pushing Watch, runs end to end in
// client/supervision_test.cc).
#include "common/control/health_service.h"

#include <vector>

#include "gtest/gtest.h"

namespace appkit {
namespace {

using grpc::health::v1::HealthCheckResponse;

TEST(HealthStateTest, UnsetIsNothingSetIsItsValue) {
  HealthState state;
  EXPECT_FALSE(state.Get("").has_value());
  state.Set("", false);
  EXPECT_EQ(state.Get(""), HealthCheckResponse::NOT_SERVING);
  state.Set("liveness", true);
  EXPECT_EQ(state.Get("liveness"), HealthCheckResponse::SERVING);
  EXPECT_EQ(state.Get(""), HealthCheckResponse::NOT_SERVING);
}

TEST(HealthStateTest, WatchersHearChangesOfTheirServiceOnly) {
  HealthState state;
  state.Set("", false);
  std::vector<int> heard, other;
  const int id = state.Subscribe("", [&](auto status) { heard.push_back(status); });
  state.Subscribe("liveness", [&](auto status) { other.push_back(status); });
  state.Set("", false);  // no change: nothing said
  state.Set("", true);
  state.Set("", false);
  EXPECT_EQ(heard,
            (std::vector<int>{HealthCheckResponse::SERVING, HealthCheckResponse::NOT_SERVING}));
  EXPECT_TRUE(other.empty());
  state.Unsubscribe(id);
  state.Set("", true);
  EXPECT_EQ(heard.size(), 2u);
  state.Set("liveness", true);  // first set: a change
  EXPECT_EQ(other, std::vector<int>{HealthCheckResponse::SERVING});
}

}  // namespace
}  // namespace appkit
