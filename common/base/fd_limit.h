// RLIMIT_NOFILE and appkit's processes.
//
// Each appkit process needs some fds of its own (the guardian: its control
// socket, gRPC's epoll and event fds, logs, pipes to the executor; a worker
// pool: two per worker). Measured: a daemon running a pool of 3 workers
// works from RLIMIT_NOFILE 24 up, a pool of 8 from 34 up.
//  - StartDaemon refuses a hard limit below kMinDaemonFds, and StartWorkers
//    one below what its pool needs (PoolFdsNeeded), with an error naming
//    RLIMIT_NOFILE and the numbers, before anything starts.
//  - appkit's own processes (guardian, fork servers, the pool) raise their
//    soft limit to the hard one; user code (the daemon entry, the workers)
//    gets the soft limit its starter had (RestoreFdSoftLimit).
#ifndef APPKIT_COMMON_FD_LIMIT_H_
#define APPKIT_COMMON_FD_LIMIT_H_

#include <sys/resource.h>

#include <cstddef>
#include <string>

#include "absl/status/status.h"

namespace appkit {

inline constexpr rlim_t kMinDaemonFds = 32;

// FailedPrecondition unless the hard RLIMIT_NOFILE allows `needed` fds
// (the soft one may be lower: appkit raises it where it needs to). The
// error reads "RLIMIT_NOFILE is 20 (hard limit 20); appkit needs at least
// 32 open files for <what>: ...".
absl::Status CheckFdLimit(rlim_t needed, const std::string& what);

// The fds a pool of `workers` needs in this process: those open now, two
// per worker (its channel and pidfd), and 12 for the pool itself (its fork
// server, the control plane's gRPC, a fork in flight, a few connections).
rlim_t PoolFdsNeeded(size_t workers);

// Raises the soft limit to the hard one; returns the soft limit before.
rlim_t RaiseFdSoftLimit();

// Sets the soft limit to `soft` (0: leaves it alone), within the hard one.
void RestoreFdSoftLimit(rlim_t soft);

// The soft limit now.
rlim_t FdSoftLimit();

}  // namespace appkit

#endif  // APPKIT_COMMON_FD_LIMIT_H_
