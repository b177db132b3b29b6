#include "common/runtime/logging.h"

#include <syslog.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/base/log.h"
#include "common/base/safe_file.h"
#include "common/host/journald_sink.h"
#include "common/host/log_files.h"
#include "google/protobuf/util/json_util.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/dup_filter_sink.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/sinks/syslog_sink.h"
#include "spdlog/spdlog.h"

namespace appkit {
namespace {

constexpr char kDefaultPattern[] = "[%Y-%m-%d %H:%M:%S.%f] [%l] [%n] [pid %P] %v";

// appkit's own identical lines within this window are collapsed.
constexpr std::chrono::seconds kRepeatWindow(10);

struct LoggingState {
  std::mutex mu;
  std::vector<std::shared_ptr<LogFileSink>> files;
};

LoggingState& State() {
  static LoggingState* state = new LoggingState();  // never destroyed: logging at exit
  return *state;
}

absl::StatusOr<spdlog::level::level_enum> ParseLevel(const std::string& level) {
  std::string upper = absl::AsciiStrToUpper(level);
  if (upper.empty() || upper == "INFO") return spdlog::level::info;
  if (upper == "TRACE") return spdlog::level::trace;
  if (upper == "DEBUG") return spdlog::level::debug;
  if (upper == "WARNING" || upper == "WARN") return spdlog::level::warn;
  if (upper == "ERROR") return spdlog::level::err;
  if (upper == "CRITICAL") return spdlog::level::critical;
  return absl::InvalidArgumentError(
      absl::StrCat("logging_config level '", level,
                   "' is not one of TRACE, DEBUG, INFO, WARNING, ERROR, CRITICAL"));
}

// syslog(3)'s facility for a name ("" is user).
absl::StatusOr<int> SyslogFacility(const std::string& name) {
  static const std::pair<const char*, int> kFacilities[] = {
      {"", LOG_USER},         {"user", LOG_USER},         {"daemon", LOG_DAEMON},
      {"auth", LOG_AUTH},     {"authpriv", LOG_AUTHPRIV}, {"cron", LOG_CRON},
      {"syslog", LOG_SYSLOG}, {"local0", LOG_LOCAL0},     {"local1", LOG_LOCAL1},
      {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3},     {"local4", LOG_LOCAL4},
      {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6},     {"local7", LOG_LOCAL7}};
  const std::string lower = absl::AsciiStrToLower(name);
  for (const auto& [facility_name, facility] : kFacilities) {
    if (lower == facility_name) return facility;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("logging_config syslog facility '", name,
                   "' is not one of user, daemon, auth, authpriv, cron, syslog, local0..local7"));
}

absl::Status CheckLogFile(const std::string& filename, const std::string& handler) {
  if (filename.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("logging_config handler '", handler, "' has no filename"));
  }
  return CheckOutputFile(filename, "log file");
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
        if (!when.empty() && when != "MIDNIGHT" && when != "D" && when != "H" && when != "M" &&
            when != "S") {
          return absl::InvalidArgumentError(
              absl::StrCat("logging_config timedRotatingFile when '", timed.when(),
                           "' is not supported: use \"midnight\", \"D\", \"H\", \"M\" "
                           "or \"S\""));
        }
        if (timed.interval() < 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "logging_config timedRotatingFile interval ", timed.interval(), " is negative"));
        }
        if (timed.backup_count() < 0) {
          return absl::InvalidArgumentError(
              absl::StrCat("logging_config timedRotatingFile backupCount ", timed.backup_count(),
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
              "logging_config rotatingFile maxBytes ", rotating.max_bytes(), " must be positive"));
        }
        if (rotating.backup_count() < 0) {
          return absl::InvalidArgumentError(absl::StrCat("logging_config rotatingFile backupCount ",
                                                         rotating.backup_count(), " is negative"));
        }
        break;
      }
      case v1::LogHandler::kStderr:
      case v1::LogHandler::kStdout:
      case v1::LogHandler::kJournald:
        break;
      case v1::LogHandler::kSyslog:
        if (!SyslogFacility(handler.syslog().facility()).ok()) {
          return SyslogFacility(handler.syslog().facility()).status();
        }
        break;
      default:
        return absl::InvalidArgumentError(
            "logging_config has a handler with no kind: use file, timedRotatingFile, "
            "rotatingFile, stderr, stdout, syslog or journald");
    }
  }
  return absl::OkStatus();
}

absl::Status ConfigureLogging(const std::optional<LoggingConfig>& config,
                              const std::string& logger_name) {
  std::vector<spdlog::sink_ptr> sinks;
  // Sinks whose records carry their own time and origin: the message alone.
  std::vector<spdlog::sink_ptr> plain;
  std::vector<std::shared_ptr<LogFileSink>> files;
  spdlog::level::level_enum level = spdlog::level::warn;
  std::string pattern = kDefaultPattern;
  if (!config.has_value()) {
    sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
  } else {
    absl::Status valid = ValidateLoggingConfig(*config);
    if (!valid.ok()) return valid;
    level = *ParseLevel(config->level());
    if (!config->format().empty()) pattern = config->format();
    for (const v1::LogHandler& handler : config->handlers()) {
      absl::StatusOr<std::shared_ptr<LogFileSink>> file;
      switch (handler.kind_case()) {
        case v1::LogHandler::kFile:
          file = LogFileSink::Open(handler.file().filename());
          break;
        case v1::LogHandler::kTimedRotatingFile: {
          const auto& timed = handler.timed_rotating_file();
          file = TimedRotatingFileSink::Open(timed.filename(), timed.when(), timed.interval(),
                                             timed.backup_count());
          break;
        }
        case v1::LogHandler::kRotatingFile: {
          const auto& rotating = handler.rotating_file();
          file = SizeRotatingFileSink::Open(rotating.filename(), rotating.max_bytes(),
                                            rotating.backup_count());
          break;
        }
        case v1::LogHandler::kStderr:
          sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
          continue;
        case v1::LogHandler::kStdout:
          sinks.push_back(std::make_shared<spdlog::sinks::stdout_sink_mt>());
          continue;
        case v1::LogHandler::kSyslog: {
          // The message alone: syslog adds its own time, host and pid.
          auto syslog = std::make_shared<spdlog::sinks::syslog_sink_mt>(
              handler.syslog().ident().empty() ? logger_name : handler.syslog().ident(), LOG_PID,
              *SyslogFacility(handler.syslog().facility()), false);
          plain.push_back(syslog);
          continue;
        }
        case v1::LogHandler::kJournald: {
          auto journald = std::make_shared<JournaldSink>(handler.journald().identifier().empty()
                                                             ? logger_name
                                                             : handler.journald().identifier());
          plain.push_back(journald);
          continue;
        }
        default:
          continue;
      }
      if (!file.ok()) return file.status();
      sinks.push_back(*file);
      files.push_back(*file);
    }
  }
  for (const spdlog::sink_ptr& sink : sinks) {
    sink->set_formatter(
        std::make_unique<spdlog::pattern_formatter>(pattern, spdlog::pattern_time_type::utc));
  }
  for (const spdlog::sink_ptr& sink : plain) sink->set_pattern("%v");
  sinks.insert(sinks.end(), plain.begin(), plain.end());
  auto make_logger = [&](std::vector<spdlog::sink_ptr> logger_sinks) {
    auto logger =
        std::make_shared<spdlog::logger>(logger_name, logger_sinks.begin(), logger_sinks.end());
    logger->set_level(level);
    logger->flush_on(spdlog::level::trace);
    return logger;
  };
  auto own_lines = std::make_shared<spdlog::sinks::dup_filter_sink_mt>(kRepeatWindow);
  own_lines->set_sinks(sinks);
  std::shared_ptr<spdlog::logger> appkit_logger = make_logger({own_lines});
  spdlog::set_default_logger(make_logger(sinks));

  LoggingState& state = State();
  std::lock_guard<std::mutex> lock(state.mu);
  state.files = std::move(files);
  SetAppkitLogger(std::move(appkit_logger));
  return absl::OkStatus();
}

absl::Status ReopenLogFiles() {
  LoggingState& state = State();
  std::lock_guard<std::mutex> lock(state.mu);
  absl::Status result;
  for (const std::shared_ptr<LogFileSink>& file : state.files) {
    absl::Status reopened = file->Reopen();
    if (!reopened.ok() && result.ok()) {
      result = absl::Status(reopened.code(),
                            absl::StrCat(reopened.message(), " (still writing to the old file)"));
    }
  }
  return result;
}

}  // namespace internal
}  // namespace appkit
