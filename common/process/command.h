// Command entries (SPEC §10): any executable supervised like an entry.
//
// CheckCommand runs in the starter (StartDaemon, StartWorkers, appkitctl)
// before anything starts: the argv is not empty, the working directory is
// a directory, the environment's names are usable, and the program is an
// executable regular file (a name without '/' is looked for in the PATH,
// the environment's own PATH when it sets one; a relative path is taken
// from the working directory). It returns the program's absolute path;
// errors name the option and the program.
//
// ExecCommand runs in the supervised child, in place of an entry: it
// changes to the working directory, adds the environment (and
// NOTIFY_SOCKET, when given) to the inherited one, gives every signal its
// default disposition and an empty mask, and execs. It returns only on
// failure, with the error naming the program.
#ifndef APPKIT_COMMON_PROCESS_COMMAND_H_
#define APPKIT_COMMON_PROCESS_COMMAND_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace appkit {

struct CommandSpec {
  std::vector<std::string> argv;                   // argv[0] is the program
  std::map<std::string, std::string> environment;  // added to the inherited one
  std::string working_directory;                   // empty: the supervisor's
};

// The environment's names and the working directory alone, as CheckCommand
// checks them (an entry gets both too, with no program to look for).
absl::Status CheckCommandSettings(const std::map<std::string, std::string>& environment,
                                  const std::string& working_directory, const std::string& option);

// `option` prefixes the errors ("DaemonOptions.command").
absl::StatusOr<std::string> CheckCommand(const CommandSpec& command, const std::string& option);

// Replaces this process with `program` (CheckCommand's answer). Returns
// only the error.
absl::Status ExecCommand(const std::string& program, const CommandSpec& command,
                         const std::string& notify_socket);

}  // namespace appkit

#endif  // APPKIT_COMMON_PROCESS_COMMAND_H_
