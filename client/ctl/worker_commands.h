// appkitctl's worker verbs (SPEC §9): `worker start|restart|stop|remove
// WORKER`, `worker add WORKER ...` and `rolling-restart` on one daemon's
// pool, through its
// Controller service (daemon_client.h). Each prints one line (or JSON with
// `json`) and returns the exit code: 0 done; 1 refused by the pool (an
// unknown worker, one that runs already, a rolling restart under way, a
// replacement that failed: the pool's message on stderr) or the socket
// refused; 3 the daemon is not running (as `status` says).
#ifndef APPKIT_CLIENT_CTL_WORKER_COMMANDS_H_
#define APPKIT_CLIENT_CTL_WORKER_COMMANDS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "client/ctl/ctl_args.h"
#include "client/ctl/daemon_client.h"

namespace appkit::ctl {

// True for the verbs `worker` takes: start, restart, stop, remove.
bool IsWorkerVerb(const std::string& verb);

// `worker VERB WORKER`. stop waits until the worker's process is gone (at
// most `timeout`); remove until the pool has forgotten it.
int WorkerCommand(const Target& target, const std::string& verb, const std::string& worker,
                  absl::Duration timeout, bool json);

// The options only `worker add` takes.
inline constexpr const char* kWorkerAddOptions[] = {
    "entry", "env", "working-directory", "worker-pid-file", "stdout-file", "stderr-file"};

// `worker add WORKER --worker-pid-file F (--entry E | -- PROGRAM ARG...)
// [--env K=V]... [--working-directory DIR] [--stdout-file F]
// [--stderr-file F]`: AddWorker (proto/controller.proto WorkerSpec; the
// pool checks it as StartWorkers does and starts it). `command` is the
// program and its arguments (empty with --entry). Relative paths are made
// absolute against our directory (the pool's is not ours).
int AddWorkerCommand(const Target& target, const std::string& worker,
                     const std::vector<std::string>& command, const CtlArgs& args);

// `rolling-restart`: waits until every worker has been restarted (at most
// `timeout` when set; the pool goes on anyway).
int RollingRestartCommand(const Target& target, std::optional<absl::Duration> timeout, bool json);

}  // namespace appkit::ctl

#endif  // APPKIT_CLIENT_CTL_WORKER_COMMANDS_H_
