// A worker fork server started ahead of the pool that will use it.
//
// A daemon's first worker used to wait for the worker binary's exec and
// start (~15 ms: its shared libraries) after the entry called
// StartWorkers. The executor now starts that server before it loads the
// entry's module (PrestartWorkerServer), so it loads beside the module and
// the entry; StartWorkers' controller takes it (TakePrestartedWorkerServer)
// instead of starting one.
//
// Contract:
// - The server is what ForkServer::Start(binary, {}, -1, title) starts, from
//   the calling thread (its parent-death signal follows that thread: call
//   it from the main thread).
// - It is only handed over if the process would start the very same server
//   now: same binary, same thread (the parent-death signal of the server
//   and of its workers, forked with CLONE_PARENT, follows the thread that
//   started it), and the same state a child inherits across exec
//   (ProcessFingerprint: environment, working directory, credentials,
//   capabilities, umask, resource limits, namespaces, stdout/stderr, ...).
//   An entry that changed any of them before StartWorkers (dropped
//   privileges, set a variable, chdir) gets a fresh server, as before.
// - Unclaimed after `standby`, it is retired: its socket closed (the server
//   exits at once, saying nothing) and reaped, on a thread that waits on a
//   condition variable, not a poll. A claim or the retirement happens once.
// - At most one waits at a time: a Prestart while one waits does nothing.
// Thread-safe.
#ifndef APPKIT_CONTROLLER_PRESTARTED_SERVER_H_
#define APPKIT_CONTROLLER_PRESTARTED_SERVER_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/process/fork_server.h"

namespace appkit::controller {

inline constexpr absl::Duration kPrestartStandby = absl::Seconds(3);

// What a server exec'd by this thread now would inherit, as one string
// (two equal strings: the same server).
std::string ProcessFingerprint();

// Starts the server, or does nothing when `binary` cannot start (logged at
// debug: StartWorkers reports it, if it is ever called).
void PrestartWorkerServer(const std::string& binary, const std::string& title,
                          absl::Duration standby = kPrestartStandby);

// The server prestarted for `binary`, or nullptr (none, retired, claimed
// already, another binary, or the process changed since: then it is
// retired here). The caller owns it and reaps it (it is our child).
std::unique_ptr<ForkServer> TakePrestartedWorkerServer(const std::string& binary);

}  // namespace appkit::controller

#endif  // APPKIT_CONTROLLER_PRESTARTED_SERVER_H_
