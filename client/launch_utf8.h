// The UTF-8 checks of what StartDaemon and StartWorkers send: the
// DaemonLaunch, and a LoggingConfig from the options. proto3 strings carry
// UTF-8 only; the receiver could not parse the message. Same verdicts and
// messages as CheckUtf8Fields (common/host/option_checks.h), through
// generated accessors instead of reflection: reflection builds the
// descriptors of launch.proto and its imports on a launcher's first call
// (0.4 ms of it, issue 17). launch_utf8_test proves, by reflection, that
// every string field of both messages is covered (a field added to the
// protos and not here fails it).
#ifndef APPKIT_CLIENT_LAUNCH_UTF8_H_
#define APPKIT_CLIENT_LAUNCH_UTF8_H_

#include <string>

#include "absl/status/status.h"
#include "proto/launch.pb.h"
#include "proto/logging.pb.h"

namespace appkit::internal {

// OK, or InvalidArgument naming the first field (in field-number order)
// that is not UTF-8, e.g. `DaemonLaunch.command.argv[1] "\xff" is not ...`.
// daemon_args is checked as CheckArgsStruct does.
absl::Status CheckLaunchUtf8(const v1::DaemonLaunch& launch);

// The same for a LoggingConfig given as `option` ("DaemonOptions.
// logging_config"): CheckUtf8Fields(option, config)'s verdict and message.
absl::Status CheckLoggingConfigUtf8(const std::string& option, const v1::LoggingConfig& config);

}  // namespace appkit::internal

#endif  // APPKIT_CLIENT_LAUNCH_UTF8_H_
