// appkitctl's command line: options anywhere on the line (before or after
// the command), `--name value` or `--name=value` (`--pid_file` spelled
// with underscores works too), short options `-n 5`, `-n5`, `-f`, `-h`
// (and clusters such as `-fn5`), `--` ends the options. The first word
// that is not an option is the command; the words after it are its
// operands (daemon names, ...).
//
// Parsing checks syntax and values only; which options a command takes is
// the command table's business (ctl_main.h). Errors are usage errors
// (exit 2) naming the option.
#ifndef APPKIT_CLIENT_CTL_CTL_ARGS_H_
#define APPKIT_CLIENT_CTL_CTL_ARGS_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace appkit::ctl {

struct CtlArgs {
  std::string command;                // "" when none was given
  std::vector<std::string> operands;  // after the command
  std::string pid_file, socket, config, state_dir, layout = "state", app, worker;
  bool json = false, all = false, help = false, follow = false;
  bool stdout_stream = false, stderr_stream = false;
  bool workers = false;  // watch: the pool's stream too
  // worker add: the new worker's settings (--env may be repeated).
  std::string entry, worker_pid_file, stdout_file, stderr_file, working_directory;
  std::vector<std::string> env;  // "KEY=VALUE", in order
  int64_t lines = 10;            // -n
  absl::Duration timeout = absl::Seconds(10);
  std::set<std::string> given;  // long names of the options on the line
};

// `args`: argv without the program name.
absl::StatusOr<CtlArgs> ParseCtlArgs(const std::vector<std::string>& args);

// One line per option, for --help.
std::string OptionsHelp();

}  // namespace appkit::ctl

#endif  // APPKIT_CLIENT_CTL_CTL_ARGS_H_
