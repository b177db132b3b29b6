// Logging for appkit processes: LoggingConfig (proto/logging.proto) to
// spdlog's default logger.
//
// Every appkit process (guardian, executor, worker) calls ConfigureLogging
// once at start-up with its role as the logger name; module code then logs
// through spdlog's default logger (spdlog::info(...)), which lives in
// Debian's shared libspdlog: one registry per process, shared by modules.
//
// Without a config, only warnings and errors go to stderr (like Python's
// logging without configuration), so a crash is still on record in the
// daemon's stderr file. File handlers open O_APPEND and flush every line:
// several processes can share one file and a crash loses no line.
#ifndef APPKIT_COMMON_LOGGING_H_
#define APPKIT_COMMON_LOGGING_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "proto/logging.pb.h"

namespace appkit {

using LoggingConfig = ::appkit::v1::LoggingConfig;

// The JSON form of SPEC §2. Errors name the offending key or value.
absl::StatusOr<LoggingConfig> LoggingConfigFromJson(std::string_view json);

namespace internal {

// Checks values a JSON parse cannot: level names, handler kinds, "when",
// sizes, and that every log file's directory exists.
absl::Status ValidateLoggingConfig(const LoggingConfig& config);

// Replaces spdlog's default logger. Call before starting threads that log.
absl::Status ConfigureLogging(const std::optional<LoggingConfig>& config,
                              const std::string& logger_name);

}  // namespace internal
}  // namespace appkit

#endif  // APPKIT_COMMON_LOGGING_H_
