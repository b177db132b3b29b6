// DaemonOptions::name (SPEC §10): what names the daemon's processes in ps
// ("appkit-guardian demo", "appkit-worker demo/greeter-1") and the
// guardian's log lines, and GuardianStatus.name.
#ifndef APPKIT_CLIENT_DAEMON_NAME_H_
#define APPKIT_CLIENT_DAEMON_NAME_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace appkit::internal {

inline constexpr size_t kMaxDaemonName = 64;

// `name`, or when empty the pid file's name without ".pid". It must be 1
// to kMaxDaemonName bytes with no control character and no '/' (it names
// workers as "<daemon>/<worker>"); InvalidArgument naming
// DaemonOptions.name (and, for the default, the pid file) otherwise.
absl::StatusOr<std::string> DaemonNameOf(const std::string& name, const std::string& pid_filename);

}  // namespace appkit::internal

#endif  // APPKIT_CLIENT_DAEMON_NAME_H_
