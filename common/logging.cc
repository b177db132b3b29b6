#include "common/logging.h"

#include <memory>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/fd_io.h"
#include "google/protobuf/util/json_util.h"
#include "spdlog/sinks/basic_file_sink.h"
#include "spdlog/sinks/daily_file_sink.h"
#include "spdlog/sinks/hourly_file_sink.h"
#include "spdlog/sinks/rotating_file_sink.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace appkit {
namespace {

constexpr char kDefaultPattern[] = "[%Y-%m-%d %H:%M:%S.%f] [%l] [%n] [pid %P] %v";

absl::StatusOr<spdlog::level::level_enum> ParseLevel(const std::string& level) {
  std::string upper = absl::AsciiStrToUpper(level);
  if (upper.empty() || upper == "INFO") return spdlog::level::info;
  if (upper == "TRACE") return spdlog::level::trace;
  if (upper == "DEBUG") return spdlog::level::debug;
  if (upper == "WARNING" || upper == "WARN") return spdlog::level::warn;
  if (upper == "ERROR") return spdlog::level::err;
  if (upper == "CRITICAL") return spdlog::level::critical;
  return absl::InvalidArgumentError(absl::StrCat(
      "logging_config level '", level,
      "' is not one of TRACE, DEBUG, INFO, WARNING, ERROR, CRITICAL"));
}

absl::Status CheckLogFile(const std::string& filename, const std::string& handler) {
  if (filename.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("logging_config handler '", handler, "' has no filename"));
  }
  return CheckParentDirWritable(filename, "log file");
}

}  // namespace

absl::StatusOr<LoggingConfig> LoggingConfigFromJson(std::string_view json) {
  LoggingConfig config;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &config, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("logging_config is not valid: ", status.message().as_string()));
  }
  absl::Status valid = internal::ValidateLoggingConfig(config);
  if (!valid.ok()) return valid;
  return config;
}

namespace internal {

absl::Status ValidateLoggingConfig(const LoggingConfig& config) {
  auto level = ParseLevel(config.level());
  if (!level.ok()) return level.status();
  for (const v1::LogHandler& handler : config.handlers()) {
    switch (handler.kind_case()) {
      case v1::LogHandler::kFile: {
        absl::Status ok = CheckLogFile(handler.file().filename(), "file");
        if (!ok.ok()) return ok;
        break;
      }
      case v1::LogHandler::kTimedRotatingFile: {
        const auto& timed = handler.timed_rotating_file();
        absl::Status ok = CheckLogFile(timed.filename(), "timedRotatingFile");
        if (!ok.ok()) return ok;
        std::string when = absl::AsciiStrToUpper(timed.when());
        if (!when.empty() && when != "MIDNIGHT" && when != "D" && when != "H") {
          return absl::InvalidArgumentError(
              absl::StrCat("logging_config timedRotatingFile when '", timed.when(),
                           "' is not supported: use \"midnight\", \"D\" or \"H\""));
        }
        if (timed.backup_count() < 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "logging_config timedRotatingFile backupCount ", timed.backup_count(),
              " is negative"));
        }
        break;
      }
      case v1::LogHandler::kRotatingFile: {
        const auto& rotating = handler.rotating_file();
        absl::Status ok = CheckLogFile(rotating.filename(), "rotatingFile");
        if (!ok.ok()) return ok;
        if (rotating.max_bytes() <= 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "logging_config rotatingFile maxBytes ", rotating.max_bytes(),
              " must be positive"));
        }
        if (rotating.backup_count() < 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "logging_config rotatingFile backupCount ", rotating.backup_count(),
              " is negative"));
        }
        break;
      }
      case v1::LogHandler::kStderr:
        break;
      default:
        return absl::InvalidArgumentError(
            "logging_config has a handler with no kind: use file, timedRotatingFile, "
            "rotatingFile or stderr");
    }
  }
  return absl::OkStatus();
}

absl::Status ConfigureLogging(const std::optional<LoggingConfig>& config,
                              const std::string& logger_name) {
  std::vector<spdlog::sink_ptr> sinks;
  spdlog::level::level_enum level = spdlog::level::warn;
  std::string pattern = kDefaultPattern;
  try {
    if (!config.has_value()) {
      sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
    } else {
      absl::Status valid = ValidateLoggingConfig(*config);
      if (!valid.ok()) return valid;
      level = *ParseLevel(config->level());
      if (!config->format().empty()) pattern = config->format();
      for (const v1::LogHandler& handler : config->handlers()) {
        switch (handler.kind_case()) {
          case v1::LogHandler::kFile:
            sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(
                handler.file().filename(), /*truncate=*/false));
            break;
          case v1::LogHandler::kTimedRotatingFile: {
            const auto& timed = handler.timed_rotating_file();
            uint16_t keep = static_cast<uint16_t>(timed.backup_count());
            if (absl::AsciiStrToUpper(timed.when()) == "H") {
              sinks.push_back(std::make_shared<spdlog::sinks::hourly_file_sink_mt>(
                  timed.filename(), false, keep));
            } else {
              sinks.push_back(std::make_shared<spdlog::sinks::daily_file_sink_mt>(
                  timed.filename(), 0, 0, false, keep));
            }
            break;
          }
          case v1::LogHandler::kRotatingFile: {
            const auto& rotating = handler.rotating_file();
            sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
                rotating.filename(), static_cast<size_t>(rotating.max_bytes()),
                static_cast<size_t>(rotating.backup_count())));
            break;
          }
          case v1::LogHandler::kStderr:
            sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
            break;
          default:
            break;
        }
      }
    }
    auto logger = std::make_shared<spdlog::logger>(logger_name, sinks.begin(), sinks.end());
    logger->set_level(level);
    logger->set_pattern(pattern, spdlog::pattern_time_type::utc);
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  } catch (const spdlog::spdlog_ex& e) {
    return absl::InvalidArgumentError(absl::StrCat("cannot set up logging: ", e.what()));
  }
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace appkit
