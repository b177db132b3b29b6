#include "common/time_format.h"

namespace appkit {

std::string FormatTime(absl::Time time) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S", time, absl::UTCTimeZone());
}

google::protobuf::Timestamp ToProtoTime(absl::Time time) {
  google::protobuf::Timestamp proto;
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
  timespec ts = absl::ToTimespec(duration);
  proto.set_seconds(ts.tv_sec);
  proto.set_nanos(static_cast<int32_t>(ts.tv_nsec));
  return proto;
}

absl::Duration FromProtoDuration(const google::protobuf::Duration& duration) {
  return absl::Seconds(duration.seconds()) + absl::Nanoseconds(duration.nanos());
}

}  // namespace appkit
