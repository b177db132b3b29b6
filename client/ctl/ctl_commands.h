// The appkitctl commands that act on one daemon through its pid file and
// control socket (SPEC §6): status, stop, workers, debug. Each prints to
// stdout (a readable table, or JSON with `json`), explains failures on
// stderr in words that say what to do, and returns the process exit code.
#ifndef APPKIT_CLIENT_CTL_CTL_COMMANDS_H_
#define APPKIT_CLIENT_CTL_CTL_COMMANDS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/time/time.h"

namespace appkit::ctl {

enum ExitCode { kOk = 0, kError = 1, kUsage = 2, kNotRunning = 3 };

struct Target {
  std::string pid_filename;
  std::string control_socket;  // empty: pid_filename + ".sock"
  std::string socket() const {
    return control_socket.empty() ? pid_filename + ".sock" : control_socket;
  }
};

int Status(const Target& target, bool json);
int Stop(const Target& target, absl::Duration timeout);
int Workers(const Target& target, bool json);
int Debug(const Target& target);

// One line of `appkitctl --config ... list`.
struct Summary {
  bool running = false;
  pid_t pid = 0;
  std::string state;     // "RUNNING", "WAITING_TO_RESTART", ... or "stopped"
  std::string uptime;    // of the guardian, "-" when stopped
  std::string restarts;  // executor restarts, "-" when unknown
};
Summary Summarize(const Target& target);

// Prints `rows` as left-aligned columns two spaces apart.
void PrintTable(const std::vector<std::vector<std::string>>& rows);

}  // namespace appkit::ctl

#endif  // APPKIT_CLIENT_CTL_CTL_COMMANDS_H_
