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
// daemon's stderr file. File handlers are common/host/log_files.h: opened
// safely, O_APPEND, one write per line (several processes can share one
// file and a crash loses no line), reopened in place on SIGHUP while any
// number of threads log.
//
// appkit's own lifecycle lines go through Log() (common/base/log.h): the same
// handlers, with repeated identical lines collapsed, so a condition that
// repeats (a full fd table, a refused peer) cannot fill a disk. Lines of
// user code are never collapsed.
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

// Sets up spdlog's default logger (what module code logs to) and Log()
// from `config`, named `logger_name`. Call once, before starting threads
// that log.
absl::Status ConfigureLogging(const std::optional<LoggingConfig>& config,
                              const std::string& logger_name);

// Reopens every log file by name (SIGHUP after logrotate moved them);
// safe while any number of threads log. A file that cannot be reopened
// stays in use; the error names it.
absl::Status ReopenLogFiles();

// (appkit's own logger, Log(), is common/base/log.h.)

}  // namespace internal
}  // namespace appkit

#endif  // APPKIT_COMMON_LOGGING_H_
