#include "client/check_options.h"

#include "client/launch_utf8.h"

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/host/option_checks.h"
#include "common/process/restart_policy.h"

namespace appkit::internal {

absl::Status CheckDaemonOptionValues(const DaemonOptions& options) {
  if (options.restart_interval) {
    APPKIT_RETURN_IF_ERROR(
        CheckDurationOption("DaemonOptions.restart_interval", *options.restart_interval));
  }
  if (options.stop_timeout) {
    APPKIT_RETURN_IF_ERROR(
        CheckDurationOption("DaemonOptions.stop_timeout", *options.stop_timeout));
  }
  APPKIT_RETURN_IF_ERROR(
      CheckRestartPolicy("DaemonOptions.restart_policy", options.restart_policy));
  if (options.ready_timeout) {
    APPKIT_RETURN_IF_ERROR(CheckDurationOption("DaemonOptions.ready_timeout",
                                               *options.ready_timeout, /*zero_ok=*/false));
  }
  if (options.watchdog_timeout) {
    APPKIT_RETURN_IF_ERROR(CheckDurationOption("DaemonOptions.watchdog_timeout",
                                               *options.watchdog_timeout, /*zero_ok=*/false));
  }
  APPKIT_RETURN_IF_ERROR(CheckUtf8Option("DaemonOptions.pid_filename", options.pid_filename));
  APPKIT_RETURN_IF_ERROR(CheckUtf8Option("DaemonOptions.daemon_entry", options.daemon_entry));
  APPKIT_RETURN_IF_ERROR(CheckUtf8Option("DaemonOptions.stdout_filename", options.stdout_filename));
  APPKIT_RETURN_IF_ERROR(CheckUtf8Option("DaemonOptions.stderr_filename", options.stderr_filename));
  APPKIT_RETURN_IF_ERROR(CheckUtf8Option("DaemonOptions.control_socket", options.control_socket));
  if (options.logging_config) {
    APPKIT_RETURN_IF_ERROR(
        CheckLoggingConfigUtf8("DaemonOptions.logging_config", *options.logging_config));
  }
  return CheckArgsStruct("DaemonOptions.daemon_args", options.daemon_args.proto());
}

absl::Status CheckWorkerValues(const std::string& who, const WorkerStartInfo& worker) {
  // The name is shown escaped: it may be what is wrong.
  APPKIT_RETURN_IF_ERROR(CheckUtf8Option("WorkerStartInfo.name", worker.name));
  const std::string prefix = absl::StrCat(who, ": WorkerStartInfo.");
  APPKIT_RETURN_IF_ERROR(CheckUtf8Option(prefix + "entry", worker.entry));
  APPKIT_RETURN_IF_ERROR(CheckUtf8Option(prefix + "pid_filename", worker.pid_filename));
  APPKIT_RETURN_IF_ERROR(CheckUtf8Option(prefix + "stdout_filename", worker.stdout_filename));
  APPKIT_RETURN_IF_ERROR(CheckUtf8Option(prefix + "stderr_filename", worker.stderr_filename));
  if (worker.logging_config) {
    APPKIT_RETURN_IF_ERROR(
        CheckLoggingConfigUtf8(prefix + "logging_config", *worker.logging_config));
  }
  if (worker.ready_timeout) {
    APPKIT_RETURN_IF_ERROR(
        CheckDurationOption(prefix + "ready_timeout", *worker.ready_timeout, /*zero_ok=*/false));
  }
  if (worker.watchdog_timeout) {
    APPKIT_RETURN_IF_ERROR(CheckDurationOption(prefix + "watchdog_timeout",
                                               *worker.watchdog_timeout, /*zero_ok=*/false));
  }
  return CheckArgsStruct(prefix + "args", worker.args.proto());
}

absl::Status CheckWorkersOptionValues(const WorkersOptions& options) {
  APPKIT_RETURN_IF_ERROR(
      CheckDurationOption("WorkersOptions.check_interval", options.check_interval, false));
  if (options.restart_interval) {
    APPKIT_RETURN_IF_ERROR(
        CheckDurationOption("WorkersOptions.restart_interval", *options.restart_interval));
  }
  if (options.stop_timeout) {
    APPKIT_RETURN_IF_ERROR(
        CheckDurationOption("WorkersOptions.stop_timeout", *options.stop_timeout));
  }
  APPKIT_RETURN_IF_ERROR(
      CheckRestartPolicy("WorkersOptions.restart_policy", options.restart_policy));
  if (options.debug_filename) {
    APPKIT_RETURN_IF_ERROR(
        CheckUtf8Option("WorkersOptions.debug_filename", *options.debug_filename));
  }
  return absl::OkStatus();
}

}  // namespace appkit::internal
