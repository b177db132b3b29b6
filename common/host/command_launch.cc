#include "common/host/command_launch.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/base/errno_status.h"

namespace appkit::internal {

v1::CommandLaunch CommandLaunchOf(const CommandSpec& command, const std::string& program) {
  v1::CommandLaunch launch;
  for (const std::string& arg : command.argv) launch.add_argv(arg);
  launch.set_program(program);
  for (const auto& [name, value] : command.environment) {
    (*launch.mutable_environment())[name] = value;
  }
  launch.set_working_directory(command.working_directory);
  return launch;
}

CommandSpec CommandSpecOf(const v1::CommandLaunch& launch) {
  CommandSpec command;
  command.argv.assign(launch.argv().begin(), launch.argv().end());
  command.environment.insert(launch.environment().begin(), launch.environment().end());
  command.working_directory = launch.working_directory();
  return command;
}

absl::Status ApplyEntryEnvironment(const v1::CommandLaunch& launch,
                                   const std::string& notify_socket) {
  if (!launch.working_directory().empty() && chdir(launch.working_directory().c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("working_directory ", launch.working_directory()));
  }
  for (const auto& [name, value] : launch.environment()) setenv(name.c_str(), value.c_str(), 1);
  if (!notify_socket.empty()) setenv("NOTIFY_SOCKET", notify_socket.c_str(), 1);
  return absl::OkStatus();
}

}  // namespace appkit::internal
