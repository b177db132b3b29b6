// Spawn: start a supervised child process with a clone + immediate exec.
//
// Safe in multi-threaded processes: everything the child needs (argv,
// envp, fd plan) is prepared before the clone, and the child only makes
// async-signal-safe system calls until execve(). It shares the caller's
// memory until then (CLONE_VM | CLONE_VFORK, as posix_spawn; its own
// stack; clone3 CLONE_INTO_CGROUP for a cgroup: common/process/child_setup.h):
// no page table is copied and the caller takes no copy-on-write faults
// after, whatever its size; the calling thread waits until the exec. The
// child:
//   - becomes leader of a new process group (setpgid) or a new session
//     (setsid), so its whole tree can be signalled with kill(-pgid, ...);
//   - gets the parent-death signal when asked, without the classic race:
//     right after prctl(PR_SET_PDEATHSIG) it checks that getppid() is
//     still the spawning process, and dies otherwise. The signal is tied
//     to the spawning *thread*: spawn only from a thread that lives as
//     long as the child should (the owner's event-loop thread);
//   - has default dispositions and an empty signal mask, except for
//     `blocked_signals` (a supervisor blocks signals for signalfd; the
//     child must not inherit that);
//   - has exactly fds 0, 1, 2 plus the ones in `fds` (every other fd of
//     appkit is close-on-exec).
// A failed exec is reported as an error from Spawn (through a close-on-exec
// pipe), never as a child that exits 127. The child's set-up is
// SetUpChild's (common/process/child_setup.h), shared with the fork server's
// children.
#ifndef APPKIT_COMMON_SPAWN_H_
#define APPKIT_COMMON_SPAWN_H_

#include <signal.h>
#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/process/child_setup.h"
// ProcessExit, SignalProcessGroup and SignalName, which every user of
// Spawn needs, live there.
#include "common/process/process_exit.h"

namespace appkit {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is the path of the binary
  // Set: the child's argv[0] instead (what ps shows; process_title.h).
  std::string argv0;
  // fds to install in the child: {fd in the parent, fd number in the
  // child}. 0, 1 and 2 are inherited unless remapped here.
  std::vector<std::pair<int, int>> fds;
  using Group = ChildGroup;  // kInherit, kNewProcessGroup, kNewSession
  Group group = Group::kNewProcessGroup;
  int parent_death_signal = 0;  // 0: none
  // Signals left blocked across exec (the child unblocks them once it
  // handles them); every other signal is unblocked.
  std::vector<int> blocked_signals;
  // Extra "NAME=value" entries on top of the parent's environment (they
  // replace a variable of the same name).
  std::vector<std::string> extra_env;
  // Spawn only: start the child in this cgroup (an OpenCgroup fd,
  // common/process/cgroup.h): cloned into it (clone3 CLONE_INTO_CGROUP), or, where
  // clone3 cannot, it joins it before its exec (failing Spawn if it can't).
  int cgroup_fd = -1;
  // Not 0: the child's soft RLIMIT_NOFILE (capped at the hard limit).
  unsigned long fd_soft_limit = 0;
  // Not empty: the child changes to it before its exec (a failure is
  // Spawn's error, as a failed exec is).
  std::string working_directory;
};

// The pid of the started child. It is the caller's child: reap it.
absl::StatusOr<pid_t> Spawn(const SpawnOptions& options);

// A second process that the daemon of SpawnDetached starts as its own
// child just before its own exec, so that the two binaries load at the
// same time (the guardian and its executor fork server: the client saves
// the guardian's start-up on the way to the first entry). `options` work
// as for Spawn, with the parent-death signal tied to the daemon. The
// companion's pid reaches the daemon in its environment as `pid_env`, the
// daemon's pid reaches the companion as `parent_pid_env` (decimal, both
// required). A companion that cannot start is not reported here: the
// daemon deals with it. When `exec_error_env` is set, the daemon is told
// for certain in that variable: the errno of the companion's failed exec
// (the companion is then exiting: reap it), or 0 once it exec'd. (The
// daemon execs only after the companion did either, CLONE_VFORK, so no
// race with its exit is left to the daemon.)
struct Companion {
  SpawnOptions options;
  std::string pid_env;
  std::string parent_pid_env;
  std::string exec_error_env;  // optional
};

// Starts a daemon: fork, setsid, fork again and exec in the grandchild,
// which is nobody's child but init's (or the nearest subreaper's), so the
// caller never has to reap it. The "forks" are clones that share the
// caller's memory until they exec (CLONE_VM | CLONE_VFORK, as posix_spawn
// does, with every signal blocked meanwhile): no page table is copied, so
// the cost does not grow with the caller's size. `group` and
// `parent_death_signal` are ignored. Returns once the exec succeeded, or
// why it failed.
absl::Status SpawnDetached(const SpawnOptions& options, const Companion* companion = nullptr);

// A close-on-exec memfd holding `content`, positioned at 0: how appkit
// hands a launch message to a child (any size, no blocking writer).
absl::StatusOr<int> MemfdWithContent(const std::string& name, const std::string& content);

}  // namespace appkit

#endif  // APPKIT_COMMON_SPAWN_H_
