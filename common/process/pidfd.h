// Watching processes: pidfds (pollable, immune to pid reuse) and the
// children of this process.
//
// A pidfd becomes readable when its process has exited (zombie or reaped),
// so waiting for an exit is a poll with a deadline, never a sleep loop.
#ifndef APPKIT_COMMON_PIDFD_H_
#define APPKIT_COMMON_PIDFD_H_

#include <sys/types.h>

#include <vector>

#include "absl/time/time.h"
#include "common/base/unique_fd.h"

namespace appkit {

// A pidfd for `pid` (close-on-exec), or an invalid fd (errno set) when the
// process is gone or pidfds are unavailable.
UniqueFd OpenPidfd(pid_t pid);

// Sends `signal` to the process of `pidfd` (never to a later process that
// reuses its pid); 0, or -1 with errno set.
int SignalPidfd(int pidfd, int signal);

// Whether the process has exited, without waiting.
bool HasExited(int pidfd);

// Waits until the process has exited or `deadline` passes (EINTR is
// retried); true when it has exited.
bool WaitForExit(int pidfd, absl::Time deadline);

// The pids of this process's children (every thread's), from /proc.
std::vector<pid_t> ChildPids();

}  // namespace appkit

#endif  // APPKIT_COMMON_PIDFD_H_
