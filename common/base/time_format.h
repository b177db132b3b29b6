// Time in appkit's files and messages.
//
// FormatTime gives pyappkit's debug-file format, UTC
// "%Y-%m-%d %H:%M:%S.%f" ("2026-11-26 10:00:00.123456").
//
// ToProtoTime and ToProtoDuration always give a valid proto: values beyond
// the proto's range (years 1-9999; +-10,000 years), such as absl's infinite
// ones, are clamped to its ends.
#ifndef APPKIT_COMMON_TIME_FORMAT_H_
#define APPKIT_COMMON_TIME_FORMAT_H_

#include <string>

#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace appkit {

std::string FormatTime(absl::Time time);
google::protobuf::Timestamp ToProtoTime(absl::Time time);
absl::Time FromProtoTime(const google::protobuf::Timestamp& time);
google::protobuf::Duration ToProtoDuration(absl::Duration duration);
absl::Duration FromProtoDuration(const google::protobuf::Duration& duration);

}  // namespace appkit

#endif  // APPKIT_COMMON_TIME_FORMAT_H_
