#include "common/base/time_format.h"

namespace appkit {

std::string FormatTime(absl::Time time) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S", time, absl::UTCTimeZone());
}

namespace {

// The ranges protobuf's Timestamp and Duration allow (its JSON printer
// refuses anything outside, and prints nothing at all).
constexpr int64_t kMinTimestampSeconds = -62135596800;  // 0001-01-01T00:00:00Z
constexpr int64_t kMaxTimestampSeconds = 253402300799;  // 9999-12-31T23:59:59Z
constexpr int64_t kMaxDurationSeconds = 315576000000;   // about 10,000 years

}  // namespace

google::protobuf::Timestamp ToProtoTime(absl::Time time) {
  google::protobuf::Timestamp proto;
  if (time < absl::FromUnixSeconds(kMinTimestampSeconds)) {
    proto.set_seconds(kMinTimestampSeconds);
    return proto;
  }
  if (time > absl::FromUnixSeconds(kMaxTimestampSeconds)) {
    proto.set_seconds(kMaxTimestampSeconds);
    return proto;
  }
  timespec ts = absl::ToTimespec(time);
  proto.set_seconds(ts.tv_sec);
  proto.set_nanos(static_cast<int32_t>(ts.tv_nsec));
  return proto;
}

absl::Time FromProtoTime(const google::protobuf::Timestamp& time) {
  return absl::FromUnixSeconds(time.seconds()) + absl::Nanoseconds(time.nanos());
}

google::protobuf::Duration ToProtoDuration(absl::Duration duration) {
  google::protobuf::Duration proto;
  if (duration >= absl::Seconds(kMaxDurationSeconds)) {
    proto.set_seconds(kMaxDurationSeconds);
    return proto;
  }
  if (duration <= absl::Seconds(-kMaxDurationSeconds)) {
    proto.set_seconds(-kMaxDurationSeconds);
    return proto;
  }
  // Truncated toward zero: seconds and nanos have the same sign, as the
  // proto requires.
  absl::Duration remainder;
  proto.set_seconds(absl::IDivDuration(duration, absl::Seconds(1), &remainder));
  proto.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(remainder)));
  return proto;
}

absl::Duration FromProtoDuration(const google::protobuf::Duration& duration) {
  return absl::Seconds(duration.seconds()) + absl::Nanoseconds(duration.nanos());
}

}  // namespace appkit
