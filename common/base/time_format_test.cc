// Proto time conversions always give a proto that protobuf accepts (its
// JSON printer prints nothing at all for one out of range).
#include "common/base/time_format.h"

#include "absl/time/clock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"

namespace appkit {
namespace {

bool PrintsAsJson(const google::protobuf::Message& message) {
  std::string json;
  return google::protobuf::util::MessageToJsonString(message, &json).ok() && !json.empty();
}

TEST(TimeFormatTest, DurationsBeyondTheProtoRangeAreClamped) {
  using google::protobuf::util::TimeUtil;
  for (absl::Duration d :
       {absl::InfiniteDuration(), -absl::InfiniteDuration(), absl::Seconds(1e300),
        absl::Seconds(9223372036854775807.0), absl::Hours(24 * 365 * 20000)}) {
    google::protobuf::Duration proto = ToProtoDuration(d);
    EXPECT_TRUE(PrintsAsJson(proto)) << d;
    EXPECT_LE(proto.seconds(), TimeUtil::kDurationMaxSeconds) << d;
    EXPECT_GE(proto.seconds(), TimeUtil::kDurationMinSeconds) << d;
  }
  EXPECT_EQ(FromProtoDuration(ToProtoDuration(absl::Milliseconds(1500))), absl::Milliseconds(1500));
  // Below a second, negative: nanos take the sign of the seconds.
  google::protobuf::Duration negative = ToProtoDuration(absl::Milliseconds(-1500));
  EXPECT_EQ(negative.seconds(), -1);
  EXPECT_EQ(negative.nanos(), -500000000);
  EXPECT_TRUE(PrintsAsJson(negative));
}

TEST(TimeFormatTest, TimesBeyondTheProtoRangeAreClamped) {
  for (absl::Time t :
       {absl::InfiniteFuture(), absl::InfinitePast(), absl::Now() + absl::Seconds(1e300)}) {
    EXPECT_TRUE(PrintsAsJson(ToProtoTime(t))) << t;
  }
  absl::Time now = absl::Now();
  EXPECT_EQ(FromProtoTime(ToProtoTime(now)), absl::FromUnixNanos(absl::ToUnixNanos(now)));
}

}  // namespace
}  // namespace appkit
