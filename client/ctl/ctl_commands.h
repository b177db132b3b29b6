// The appkitctl commands that act on one daemon through its pid file and
// control socket: status, stop, workers, debug; and the one-line view of a
// daemon that `list` and `status NAME...` print. Each command prints to
// stdout (a table, or JSON with `json`: ctl_output.h), explains failures
// on stderr in words that say what to do, and returns the exit code
// (daemon_client.h's ExitCode).
#ifndef APPKIT_CLIENT_CTL_CTL_COMMANDS_H_
#define APPKIT_CLIENT_CTL_CTL_COMMANDS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "client/ctl/ctl_output.h"
#include "client/ctl/daemon_client.h"

namespace appkit::ctl {

// `status`: a block of what the daemon is doing, with a `status` line when
// its program said STATUS=... over sd_notify (or JSON: the GuardianStatus,
// notifyStatus included, with "running": true first; not running: running
// false, pidFilename, reason). `name`, when not empty, is added as "name".
// The same from the status snapshot file as from the RPC.
int Status(const Target& target, bool json, const std::string& name = "");
// `stop`: quit and wait until the guardian is gone (0 when it was not
// running; says so). `name`, when not empty, names the daemon in what it
// prints.
int Stop(const Target& target, absl::Duration timeout, const std::string& name = "");
// `restart`: Guardian.Restart (the executor is stopped gracefully and
// started again by the same guardian, with the options it was started
// with; FATAL or a pending restart: started at once). Not running:
// kNotRunning, said on stderr (the config form starts it instead).
int Restart(const Target& target, const std::string& name = "");
// `workers`: the pool's workers, a table (NAME STATE PID UPTIME RESTARTS
// LAST EXIT, and a last STATUS column, the sd_notify STATUS= text, when a
// worker has one); JSON: ListWorkersResponse.
int Workers(const Target& target, bool json);
// `debug`: the debug-file JSON.
int Debug(const Target& target);

// One daemon as `list` and `status NAME...` show it.
struct DaemonView {
  int exit_code = kNotRunning;               // as `status` exits for it
  std::optional<pid_t> pid;                  // the verified guardian
  std::optional<v1::GuardianStatus> status;  // when it answered
  std::string problem;                       // otherwise why not, in words
};
DaemonView Inspect(const Target& target);

// The JSON object `status --json` prints for `view`.
OrderedJson StatusJson(const Target& target, const DaemonView& view, const std::string& name);

// NAME STATE PID UPTIME RESTARTS LAST EXIT, the header and one row.
std::vector<std::string> DaemonHeader();
std::vector<std::string> DaemonRow(const std::string& name, const DaemonView& view);

}  // namespace appkit::ctl

#endif  // APPKIT_CLIENT_CTL_CTL_COMMANDS_H_
