#include "client/launch_utf8.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/host/option_checks.h"

namespace appkit::internal {
namespace {

using NamedStrings = std::vector<std::pair<const char*, const std::string*>>;

// Each of `strings`, named `at` + its name, in the order given.
absl::Status CheckStrings(const std::string& at, const NamedStrings& strings) {
  for (const auto& [name, value] : strings) {
    APPKIT_RETURN_IF_ERROR(CheckUtf8Option(at + name, *value));
  }
  return absl::OkStatus();
}

// As CheckUtf8Fields walks a map<string, string>: entries in the map's
// wire order are not known without reflection, so keys are checked in
// sorted order (one bad entry gives the same message either way).
absl::Status CheckStringMap(const std::string& path,
                            const google::protobuf::Map<std::string, std::string>& map) {
  const std::map<std::string, std::string> sorted(map.begin(), map.end());
  for (const auto& [key, value] : sorted) {
    if (!IsValidUtf8(key)) return CheckUtf8Option(absl::StrCat("a key of ", path), key);
    APPKIT_RETURN_IF_ERROR(
        CheckUtf8Option(absl::StrCat(path, "[\"", EscapeBytes(key), "\"]"), value));
  }
  return absl::OkStatus();
}

absl::Status CheckCommand(const std::string& path, const v1::CommandLaunch& command) {
  for (int i = 0; i < command.argv_size(); ++i) {
    APPKIT_RETURN_IF_ERROR(CheckUtf8Option(absl::StrCat(path, ".argv[", i, "]"), command.argv(i)));
  }
  APPKIT_RETURN_IF_ERROR(CheckUtf8Option(path + ".program", command.program()));
  APPKIT_RETURN_IF_ERROR(CheckStringMap(path + ".environment", command.environment()));
  return CheckUtf8Option(path + ".working_directory", command.working_directory());
}

absl::Status CheckHandler(const std::string& path, const v1::LogHandler& handler) {
  const std::string at = path + ".";
  switch (handler.kind_case()) {
    case v1::LogHandler::kFile:
      return CheckStrings(at + "file.", {{"filename", &handler.file().filename()}});
    case v1::LogHandler::kTimedRotatingFile:
      return CheckStrings(at + "timed_rotating_file.",
                          {{"filename", &handler.timed_rotating_file().filename()},
                           {"when", &handler.timed_rotating_file().when()}});
    case v1::LogHandler::kRotatingFile:
      return CheckStrings(at + "rotating_file.",
                          {{"filename", &handler.rotating_file().filename()}});
    case v1::LogHandler::kSyslog:
      return CheckStrings(at + "syslog.", {{"ident", &handler.syslog().ident()},
                                           {"facility", &handler.syslog().facility()}});
    case v1::LogHandler::kJournald:
      return CheckStrings(at + "journald.", {{"identifier", &handler.journald().identifier()}});
    default:  // stderr, stdout: no text
      return absl::OkStatus();
  }
}

}  // namespace

absl::Status CheckLaunchUtf8(const v1::DaemonLaunch& launch) {
  const std::string at = "DaemonLaunch.";
  // Field-number order, as CheckUtf8Fields reports the first bad one.
  APPKIT_RETURN_IF_ERROR(CheckStrings(at, {{"pid_filename", &launch.pid_filename()},
                                           {"guardian_socket", &launch.guardian_socket()},
                                           {"daemon_entry", &launch.daemon_entry()},
                                           {"resolved_entry", &launch.resolved_entry()}}));
  if (launch.has_daemon_args()) {
    APPKIT_RETURN_IF_ERROR(CheckArgsStruct(at + "daemon_args", launch.daemon_args()));
  }
  if (launch.has_logging_config()) {
    APPKIT_RETURN_IF_ERROR(CheckLoggingConfigUtf8(at + "logging_config", launch.logging_config()));
  }
  APPKIT_RETURN_IF_ERROR(CheckStrings(at, {{"executor_path", &launch.executor_path()},
                                           {"worker_path", &launch.worker_path()},
                                           {"stdout_filename", &launch.stdout_filename()},
                                           {"stderr_filename", &launch.stderr_filename()},
                                           {"controller_socket", &launch.controller_socket()},
                                           {"control_plane_path", &launch.control_plane_path()},
                                           {"name", &launch.name()}}));
  if (launch.has_command()) APPKIT_RETURN_IF_ERROR(CheckCommand(at + "command", launch.command()));
  return CheckStrings(
      at, {{"notify_socket", &launch.notify_socket()}, {"health_listen", &launch.health_listen()}});
}

absl::Status CheckLoggingConfigUtf8(const std::string& option, const v1::LoggingConfig& config) {
  const std::string at = option + ".";
  APPKIT_RETURN_IF_ERROR(
      CheckStrings(at, {{"level", &config.level()}, {"format", &config.format()}}));
  for (int i = 0; i < config.handlers_size(); ++i) {
    APPKIT_RETURN_IF_ERROR(CheckHandler(absl::StrCat(at, "handlers[", i, "]"), config.handlers(i)));
  }
  return absl::OkStatus();
}

}  // namespace appkit::internal
