// The UTF-8 check of a DaemonLaunch before StartDaemon sends it: proto3
// strings carry UTF-8 only, and the guardian could not parse the message.
// Same verdict and messages as CheckUtf8Fields("DaemonLaunch", launch)
// (common/host/option_checks.h), through generated accessors instead of
// reflection: reflection builds the descriptors of launch.proto and its
// imports on a launcher's first StartDaemon (0.4 ms of it, issue 17).
// launch_utf8_test proves, by reflection, that every string field of the
// message is covered (a field added to the proto and not here fails it).
#ifndef APPKIT_CLIENT_LAUNCH_UTF8_H_
#define APPKIT_CLIENT_LAUNCH_UTF8_H_

#include "absl/status/status.h"
#include "proto/launch.pb.h"

namespace appkit::internal {

// OK, or InvalidArgument naming the first field (in field-number order)
// that is not UTF-8, e.g. `DaemonLaunch.command.argv[1] "\xff" is not ...`.
// logging_config and daemon_args are checked as their own checkers do.
absl::Status CheckLaunchUtf8(const v1::DaemonLaunch& launch);

}  // namespace appkit::internal

#endif  // APPKIT_CLIENT_LAUNCH_UTF8_H_
