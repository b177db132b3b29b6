// ChildSetup: what a supervised child becomes between its fork (or clone)
// and the code it runs. The one routine for the children of Spawn and
// SpawnDetached (common/process/spawn.h) and of a fork server
// (common/process/fork_server.h): each of them fills a ChildSetup and calls
// SetUpChild.
//
// Usage (the parent prepares, the child applies):
//
//   ChildSetup setup;
//   setup.parent = getpid();
//   setup.parent_death_signal = SIGKILL;
//   setup.AddFd(pipe_end, 3);
//   setup.Block(SIGTERM);
//   bool join = false;
//   pid_t pid = ForkChild(/*clone_parent=*/false, cgroup_fd, try_clone3, join);
//   if (pid == 0) {
//     if (join) setup.join_cgroup_fd = cgroup_fd;  // the child's own copy
//     if (!SetUpChild(setup).ok()) _exit(127);
//     execve(...);
//   }
//
// The plan is a plain value filled in the parent before the fork or
// clone, so the child allocates nothing. SetUpChild makes only
// async-signal-safe system calls, raw where glibc's wrapper is a
// cancellation point (close, read, write, openat read the pthread state
// that a CLONE_VM child shares with its caller's thread): it is safe after
// fork() in a multi-threaded process and in a CLONE_VM | CLONE_VFORK
// clone. In this order, the child:
//   1. leads a new process group (setpgid) or a new session (setsid), or
//      stays where it is (kInherit), so that its whole tree can be
//      signalled with kill(-pgid, ...);
//   2. gets `parent_death_signal` when asked, without the classic race:
//      right after prctl(PR_SET_PDEATHSIG) it checks that getppid() is
//      still `parent`, and _exits with 128 + the signal otherwise (nobody
//      would ever send it). The signal is tied to the parent's *thread*
//      that made the child;
//   3. when `go_fd` is set, waits for one byte on it (a fork server's
//      child: its supervisor sends wire::Message::kGo once it knows the
//      pid; any byte counts). EOF means the supervisor gave up on this
//      child: it _exits 127 without running anything;
//   4. when `join_cgroup_fd` is set, joins that cgroup by writing
//      cgroup.procs (where the child could not be cloned into it). A
//      failure is returned only after step 5, so that the child's own
//      stderr is in place to say so;
//   5. keeps exactly fds 0, 1, 2, the targets of `fds` and `keep_fd`: every
//      other fd is closed, close-on-exec or not. Sources are first copied
//      just above the highest target, not at a fixed number (a low
//      RLIMIT_NOFILE, e.g. 32, leaves no fd 100), so that installing one
//      target never clobbers a source still to install; that works under
//      any limit that holds the fds to install twice. `keep_fd` (an fd the
//      caller still needs, close-on-exec: Spawn's error pipe, a fork
//      request) ends up above the targets, at the number the result gives.
//      stdin becomes /dev/null when `stdin_from_dev_null` and no fd is
//      installed as 0;
//   6. has the default disposition for every signal, then exactly `mask`
//      blocked. Handlers first: a CLONE_VM child must never run one of its
//      caller's handlers, so the caller blocks every signal around such a
//      clone and the child unblocks only once they are reset;
//   7. with `fd_soft_limit` (not 0), gets that soft RLIMIT_NOFILE (capped
//      at the hard one: a supervisor that raised its own gives a program
//      the user's), and with `working_directory`, changes to it (a
//      failure is returned, as for the other steps).
#ifndef APPKIT_COMMON_CHILD_SETUP_H_
#define APPKIT_COMMON_CHILD_SETUP_H_

#include <signal.h>
#include <sys/types.h>

namespace appkit {

// Where a child stands in the process tree (step 1).
enum class ChildGroup { kInherit, kNewProcessGroup, kNewSession };

struct ChildSetup {
  ChildSetup() { sigemptyset(&mask); }

  static constexpr int kMaxFds = 16;
  struct Install {
    int source;  // an fd of the parent
    int target;  // its number in the child
  };

  ChildGroup group = ChildGroup::kNewProcessGroup;
  int parent_death_signal = 0;  // 0: none
  pid_t parent = 0;             // who the parent-death signal is tied to
  int go_fd = -1;
  int join_cgroup_fd = -1;
  Install fds[kMaxFds] = {};
  int fd_count = 0;
  bool stdin_from_dev_null = false;
  int keep_fd = -1;
  sigset_t mask;                            // blocked once the child is set up
  unsigned long fd_soft_limit = 0;          // 0: as inherited
  const char* working_directory = nullptr;  // the parent's storage; nullptr: as inherited

  // In the parent. False when the plan is full (kMaxFds).
  bool AddFd(int source, int target);
  void Block(int signal) { sigaddset(&mask, signal); }
};

struct ChildSetupResult {
  enum class Step { kNone, kGroup, kParentDeathSignal, kCgroup, kFds, kWorkingDirectory };
  Step failed = Step::kNone;
  int error = 0;     // the errno of the step that failed
  int keep_fd = -1;  // where ChildSetup::keep_fd is now (-1: none)

  bool ok() const { return failed == Step::kNone; }
  // What the child could not do, for a message: "join its cgroup".
  const char* what() const;
};

// Child side only: applies `setup` as described above. Does not return
// when the parent is already gone (step 2) or the go never comes (step 3).
// On failure the child is half set up: report (through the result's
// keep_fd, or stderr once past step 4) and _exit.
ChildSetupResult SetUpChild(const ChildSetup& setup);

// Makes a child as fork() does (its own copy of the caller's memory and
// fds; 0 in the child, its pid in the caller, -1 and errno on failure).
// With `clone_parent` it is the caller's parent's child instead
// (CLONE_PARENT: a fork server makes its supervisor's children). With
// `cgroup_fd` >= 0 (an OpenCgroup fd, common/process/cgroup.h) it is cloned into
// that cgroup (clone3 CLONE_INTO_CGROUP) while `try_clone3` holds; where
// the kernel refuses clone3 (before 5.7, a seccomp filter) `try_clone3`
// becomes false for next time and the child is made without it, with
// `join` set: the child must then join the cgroup itself
// (ChildSetup::join_cgroup_fd). Any other clone3 error is returned.
pid_t ForkChild(bool clone_parent, int cgroup_fd, bool& try_clone3, bool& join);

// Makes a child that shares the caller's memory until its exec or exit
// (CLONE_VM | CLONE_VFORK, as posix_spawn does): no page table is copied
// and the caller takes no copy-on-write faults afterwards, so starting a
// program costs the same from a large process as from a small one. The
// child runs `child_main(arg)` on the stack [stack_low, stack_low +
// stack_size) and must exec or _exit there (SetUpChild, then execve);
// the calling thread resumes once it did. With `cgroup_fd` >= 0 the child
// is cloned into that cgroup (clone3 CLONE_INTO_CGROUP; it takes a few
// lines of assembly, x86-64 only: ENOSYS elsewhere); when that fails with
// an errno for which Clone3Refused holds, make it without (cgroup_fd -1)
// and have the child join (ChildSetup::join_cgroup_fd). The caller blocks
// every signal around the call (SetUpChild step 6). The pid, or -1 and
// errno.
pid_t CloneVforkChild(int (*child_main)(void*), void* arg, char* stack_low, size_t stack_size,
                      int cgroup_fd);

// The errnos with which a kernel refuses clone3 or one of its flags
// (before 5.7, a seccomp filter): ENOSYS, E2BIG, EINVAL.
bool Clone3Refused(int error);

}  // namespace appkit

#endif  // APPKIT_COMMON_CHILD_SETUP_H_
