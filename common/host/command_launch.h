// A command entry (common/process/command.h) on the launch messages
// (v1::CommandLaunch, proto/launch.proto), both ends: the starter fills
// it, the executor or worker applies it. A CommandLaunch with an empty
// argv carries only the environment and working directory of an entry.
#ifndef APPKIT_COMMON_HOST_COMMAND_LAUNCH_H_
#define APPKIT_COMMON_HOST_COMMAND_LAUNCH_H_

#include <string>

#include "absl/status/status.h"
#include "common/process/command.h"
#include "proto/launch.pb.h"

namespace appkit::internal {

// `program`: CheckCommand's answer ("" for an entry).
v1::CommandLaunch CommandLaunchOf(const CommandSpec& command, const std::string& program);
CommandSpec CommandSpecOf(const v1::CommandLaunch& launch);

inline bool IsCommand(const v1::CommandLaunch& launch) { return launch.argv_size() > 0; }

// For an entry, before its module loads and before any thread starts:
// the working directory, the environment and NOTIFY_SOCKET.
absl::Status ApplyEntryEnvironment(const v1::CommandLaunch& launch,
                                   const std::string& notify_socket);

}  // namespace appkit::internal

#endif  // APPKIT_COMMON_HOST_COMMAND_LAUNCH_H_
