// The commands of `appkitctl --config daemons.yaml ...`, on daemons the
// file names: list, start, stop, restart, status. Several names or --all
// where a command takes them; the exit code is the worst of the daemons'
// (daemon_client.h's Worst). Each prints what it did or found on stdout,
// and what went wrong on stderr.
#ifndef APPKIT_CLIENT_CTL_CONFIG_COMMANDS_H_
#define APPKIT_CLIENT_CTL_CONFIG_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/ctl/daemons_config.h"

namespace appkit::ctl {

// The daemons `names` select (all of the file's, in file order, for
// `all`). An unknown name: NotFound saying which names the file defines.
absl::StatusOr<std::vector<const NamedDaemon*>> Select(const DaemonsConfig& config,
                                                       const std::vector<std::string>& names,
                                                       bool all);

int List(const DaemonsConfig& config, bool json);

// Starts `daemon` (a running one is left as is and named), creating the
// directories its layout needs; a failed start leaves none of them behind.
// On success, records its settings in its `applied` file (what `reload`
// compares).
int StartOne(const DaemonsConfig& config, const NamedDaemon& daemon);
int StartMany(const DaemonsConfig& config, const std::vector<const NamedDaemon*>& daemons);

// `run NAME`: runs `daemon` in the foreground (RunDaemon, SPEC §10) until
// it ends and returns the status to exit with (its entry's, 128+N for a
// signal); 1 with the reason on stderr when it cannot run (the directories
// made for it removed again). The daemon's stdout and stderr are ours
// ("/dev/stdout", "/dev/stderr": common/process/stdio_files.h), not the
// layout's files.
int RunOne(const DaemonsConfig& config, const NamedDaemon& daemon);

int StopMany(const std::vector<const NamedDaemon*>& daemons, absl::Duration timeout);

// Stop (as StopMany), then start (as StartOne) each daemon in turn; a
// daemon that does not stop is not started again. (Until Guardian.Restart
// exists, this is a restart of the whole guardian, not only the executor.)
int RestartMany(const DaemonsConfig& config, const std::vector<const NamedDaemon*>& daemons,
                absl::Duration timeout);

// One daemon (`several` false): its status block, or JSON object; else a
// table (JSON: {"daemons": [...]}).
int StatusMany(const std::vector<const NamedDaemon*>& daemons, bool several, bool json);

}  // namespace appkit::ctl

#endif  // APPKIT_CLIENT_CTL_CONFIG_COMMANDS_H_
