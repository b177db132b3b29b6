#include "common/process/child_setup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace appkit {
namespace {

using Step = ChildSetupResult::Step;

#if defined(__x86_64__)
// clone3 for a child on its own stack (glibc 2.36 exports no wrapper): the
// child returns from the system call on that stack, so it must not come
// back into C++ frames; it calls child_main(arg) and exits with its
// result (glibc's sysdeps/unix/sysv/linux/x86_64/clone3.S does the same).
// The caller gets the pid or -errno. rdi: args, rsi: size, rdx: main,
// rcx: arg; r8 and r9 survive the system call into the child.
extern "C" long appkit_clone3_on_stack(clone_args* args, size_t size, int (*child_main)(void*),
                                       void* arg);
asm(R"(
  .text
  .p2align 4
  .type appkit_clone3_on_stack, @function
appkit_clone3_on_stack:
  mov %rcx, %r8
  mov %rdx, %r9
  mov $435, %eax
  syscall
  test %rax, %rax
  jz 1f
  ret
1:
  xor %ebp, %ebp
  mov %r8, %rdi
  call *%r9
  mov %eax, %edi
  mov $60, %eax
  syscall
  hlt
  .size appkit_clone3_on_stack, .-appkit_clone3_on_stack
)");
#endif

// Raw system calls for the glibc wrappers that are cancellation points.
void RawClose(int fd) { syscall(SYS_close, fd); }
long RawRead(int fd, void* buffer, size_t size) { return syscall(SYS_read, fd, buffer, size); }
long RawWrite(int fd, const void* data, size_t size) { return syscall(SYS_write, fd, data, size); }
int RawOpenAt(int dir, const char* path, int flags) {
  return static_cast<int>(syscall(SYS_openat, dir, path, flags, 0));
}

// Closes every fd but the `count` in `keep` (any order, duplicates and -1
// fine): a few close_range calls over the gaps.
void CloseAllBut(int* keep, int count) {
  for (int i = 1; i < count; ++i) {  // insertion sort: a handful of fds
    for (int j = i; j > 0 && keep[j - 1] > keep[j]; --j) {
      int t = keep[j];
      keep[j] = keep[j - 1];
      keep[j - 1] = t;
    }
  }
  unsigned next = 0;  // the lowest fd not yet known to be kept or closed
  for (int i = 0; i < count; ++i) {
    if (keep[i] < 0 || static_cast<unsigned>(keep[i]) < next) continue;
    if (static_cast<unsigned>(keep[i]) > next) close_range(next, keep[i] - 1, 0);
    next = keep[i] + 1;
  }
  close_range(next, ~0U, 0);
}

bool IsTarget(const ChildSetup& setup, int fd) {
  for (int i = 0; i < setup.fd_count; ++i) {
    if (setup.fds[i].target == fd) return true;
  }
  return false;
}

// Step 5. Returns 0 or an errno; `keep_fd` follows the kept fd.
int InstallFds(const ChildSetup& setup, int& keep_fd) {
  int max_target = 2;
  for (int i = 0; i < setup.fd_count; ++i) {
    if (setup.fds[i].target > max_target) max_target = setup.fds[i].target;
  }
  // Nothing else crosses: closing the rest first also makes room under a
  // low fd limit.
  int keep[ChildSetup::kMaxFds + 4] = {0, 1, 2, keep_fd};
  for (int i = 0; i < setup.fd_count; ++i) keep[4 + i] = setup.fds[i].source;
  CloseAllBut(keep, 4 + setup.fd_count);
  // The kept fd, then every source, above the highest target: a target
  // number never clobbers one of them.
  if (keep_fd >= 0 && keep_fd <= max_target) {
    int moved = fcntl(keep_fd, F_DUPFD_CLOEXEC, max_target + 1);
    if (moved < 0) return errno;
    keep_fd = moved;
  }
  int moved[ChildSetup::kMaxFds];
  for (int i = 0; i < setup.fd_count; ++i) {
    moved[i] = fcntl(setup.fds[i].source, F_DUPFD_CLOEXEC, max_target + 1);
    if (moved[i] < 0) return errno;
  }
  for (int i = 0; i < setup.fd_count; ++i) {
    if (dup2(moved[i], setup.fds[i].target) < 0) return errno;  // clears close-on-exec
  }
  // Below the highest target, what is not a target goes (0-2 stay unless
  // remapped); above it, all but the kept fd (the copies).
  for (int fd = STDERR_FILENO + 1; fd < max_target; ++fd) {
    if (!IsTarget(setup, fd)) RawClose(fd);
  }
  if (keep_fd > max_target) {
    if (keep_fd > max_target + 1) close_range(max_target + 1, keep_fd - 1, 0);
    close_range(keep_fd + 1, ~0U, 0);
  } else {
    close_range(max_target + 1, ~0U, 0);
  }
  if (setup.stdin_from_dev_null && !IsTarget(setup, 0)) {
    int null_fd = RawOpenAt(AT_FDCWD, "/dev/null", O_RDONLY);
    if (null_fd < 0) return errno;
    if (null_fd != 0) {
      if (dup2(null_fd, 0) < 0) return errno;
      RawClose(null_fd);
    }
  }
  return 0;
}

}  // namespace

bool ChildSetup::AddFd(int source, int target) {
  if (fd_count >= kMaxFds) return false;
  fds[fd_count++] = Install{source, target};
  return true;
}

const char* ChildSetupResult::what() const {
  switch (failed) {
    case Step::kNone:
      return "nothing";
    case Step::kGroup:
      return "make its process group";
    case Step::kParentDeathSignal:
      return "set its parent-death signal";
    case Step::kCgroup:
      return "join its cgroup";
    case Step::kFds:
      return "install its fds";
    case Step::kWorkingDirectory:
      return "change to its working directory";
  }
  return "set itself up";
}

ChildSetupResult SetUpChild(const ChildSetup& setup) {
  ChildSetupResult result;
  result.keep_fd = setup.keep_fd;
  auto fail = [&result](Step step, int error) {
    result.failed = step;
    result.error = error;
    return result;
  };
  // 1. The process tree.
  if (setup.group == ChildGroup::kNewSession) {
    if (setsid() < 0) return fail(Step::kGroup, errno);
  } else if (setup.group == ChildGroup::kNewProcessGroup) {
    if (setpgid(0, 0) < 0) return fail(Step::kGroup, errno);
  }
  // 2. The parent-death signal. The parent may have died before prctl:
  // then nobody will ever send it.
  if (setup.parent_death_signal != 0) {
    if (prctl(PR_SET_PDEATHSIG, setup.parent_death_signal) < 0) {
      return fail(Step::kParentDeathSignal, errno);
    }
    if (getppid() != setup.parent) _exit(128 + setup.parent_death_signal);
  }
  // 3. The supervisor's go.
  if (setup.go_fd >= 0) {
    for (;;) {
      char go;
      long n = RawRead(setup.go_fd, &go, 1);
      if (n == 1) break;
      if (n < 0 && errno == EINTR) continue;
      _exit(127);
    }
  }
  // 4. The cgroup, before anything of the child runs.
  int join_error = 0;
  if (setup.join_cgroup_fd >= 0) {
    int procs = RawOpenAt(setup.join_cgroup_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
    if (procs < 0 || RawWrite(procs, "0", 1) != 1) join_error = errno;
    if (procs >= 0) RawClose(procs);
  }
  // 5. The fds.
  if (int error = InstallFds(setup, result.keep_fd); error != 0) return fail(Step::kFds, error);
  if (join_error != 0) return fail(Step::kCgroup, join_error);
  // 6. Signals: default handlers first, then the mask.
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);  // EINVAL for some: fine
  sigprocmask(SIG_SETMASK, &setup.mask, nullptr);
  // 7. Its limits and working directory.
  if (setup.fd_soft_limit != 0) {
    rlimit limit = {};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
      limit.rlim_cur = setup.fd_soft_limit < limit.rlim_max ? setup.fd_soft_limit : limit.rlim_max;
      setrlimit(RLIMIT_NOFILE, &limit);
    }
  }
  if (setup.working_directory != nullptr && chdir(setup.working_directory) != 0) {
    return fail(Step::kWorkingDirectory, errno);
  }
  return result;
}

pid_t ForkChild(bool clone_parent, int cgroup_fd, bool& try_clone3, bool& join) {
  join = false;
  if (cgroup_fd >= 0 && try_clone3) {
    clone_args args = {};
    args.flags = CLONE_INTO_CGROUP | (clone_parent ? CLONE_PARENT : 0);
    // With CLONE_PARENT the child's exit signal is the caller's own
    // (SIGCHLD), whatever is asked here.
    args.exit_signal = clone_parent ? 0 : SIGCHLD;
    args.cgroup = static_cast<uint64_t>(cgroup_fd);
    long pid = syscall(SYS_clone3, &args, sizeof(args));
    if (pid >= 0 || !Clone3Refused(errno)) {
      return static_cast<pid_t>(pid);
    }
    try_clone3 = false;
  }
  join = cgroup_fd >= 0;
  if (clone_parent) {
    return static_cast<pid_t>(syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, nullptr, nullptr, 0));
  }
  return fork();
}

bool Clone3Refused(int error) { return error == ENOSYS || error == E2BIG || error == EINVAL; }

pid_t CloneVforkChild(int (*child_main)(void*), void* arg, char* stack_low, size_t stack_size,
                      int cgroup_fd) {
  if (cgroup_fd < 0) {
    return clone(child_main, stack_low + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, arg);
  }
#if defined(__x86_64__)
  clone_args args = {};
  args.flags = CLONE_VM | CLONE_VFORK | CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.stack = reinterpret_cast<uint64_t>(stack_low);
  args.stack_size = stack_size;
  args.cgroup = static_cast<uint64_t>(cgroup_fd);
  long pid = appkit_clone3_on_stack(&args, sizeof(args), child_main, arg);
  if (pid >= 0) return static_cast<pid_t>(pid);
  errno = static_cast<int>(-pid);
#else
  errno = ENOSYS;
#endif
  return -1;
}

}  // namespace appkit
