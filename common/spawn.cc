#include "common/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/cgroup.h"
#include "common/errno_status.h"
#include "common/fd_io.h"
#include "common/unique_fd.h"

extern char** environ;

namespace appkit {
namespace {

// Child side, between fork (or a CLONE_VM clone) and exec: raw system
// calls for close and write, which glibc makes cancellation points that
// read the pthread state the child shares with its caller's thread.
void RawClose(int fd) { syscall(SYS_close, fd); }

// Reports `err` on the error pipe (when `report`) and exits.
[[noreturn]] void Fail(int error_fd, int err, bool report = true) {
  if (report && error_fd >= 0) syscall(SYS_write, error_fd, &err, sizeof(err));
  _exit(127);
}

// Closes every fd but the `count` in `keep` (any order, duplicates fine).
// Async-signal-safe: a few close_range calls over the gaps.
void CloseAllBut(int* keep, size_t count) {
  for (size_t i = 1; i < count; ++i) {  // insertion sort: at most 20 fds
    for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; --j) {
      int t = keep[j];
      keep[j] = keep[j - 1];
      keep[j - 1] = t;
    }
  }
  unsigned next = 0;  // the lowest fd not yet known to be kept or closed
  for (size_t i = 0; i < count; ++i) {
    if (keep[i] < 0 || static_cast<unsigned>(keep[i]) < next) continue;
    if (static_cast<unsigned>(keep[i]) > next) close_range(next, keep[i] - 1, 0);
    next = keep[i] + 1;
  }
  close_range(next, ~0U, 0);
}

// Installs the fds, resets signals and execs. Child side, between fork and
// exec: async-signal-safe calls only. `error_fd` stays open until the exec
// (close-on-exec); a failure is written to it only when `report`.
// Works under any RLIMIT_NOFILE that holds the fds to install twice: no
// fd number is assumed free.
[[noreturn]] void InstallAndExec(const SpawnOptions& options, char* const* argv,
                                 char* const* envp, int error_fd, bool report = true) {
  auto fail = [&error_fd, report](int err) { Fail(error_fd, err, report); };
  const size_t count = options.fds.size() < 16 ? options.fds.size() : 16;
  int max_target = 2;
  for (size_t i = 0; i < count; ++i) {
    if (options.fds[i].second > max_target) max_target = options.fds[i].second;
  }
  // Nothing else crosses exec, whatever the caller left open without
  // O_CLOEXEC; closing it first also makes room under a low fd limit.
  int keep[16 + 4] = {0, 1, 2, error_fd};
  for (size_t i = 0; i < count; ++i) keep[4 + i] = options.fds[i].first;
  CloseAllBut(keep, 4 + count);
  // The error pipe, then every source, above the highest target: a target
  // number never clobbers one of them.
  if (error_fd >= 0 && error_fd <= max_target) {
    int moved_error = fcntl(error_fd, F_DUPFD_CLOEXEC, max_target + 1);
    if (moved_error < 0) fail(errno);
    error_fd = moved_error;
  }
  int moved[16];
  for (size_t i = 0; i < count; ++i) {
    moved[i] = fcntl(options.fds[i].first, F_DUPFD_CLOEXEC, max_target + 1);
    if (moved[i] < 0) fail(errno);
  }
  for (size_t i = 0; i < count; ++i) {
    if (dup2(moved[i], options.fds[i].second) < 0) fail(errno);  // clears CLOEXEC
  }
  // Below the highest target, what is not a target goes (0-2 stay unless
  // remapped); above it, all but the error pipe (the copies).
  for (int fd = 3; fd < max_target; ++fd) {
    bool target = false;
    for (size_t i = 0; i < count; ++i) target = target || options.fds[i].second == fd;
    if (!target) RawClose(fd);
  }
  if (error_fd > max_target) {
    close_range(max_target + 1, error_fd - 1, 0);
    close_range(error_fd + 1, ~0U, 0);
  } else {
    close_range(max_target + 1, ~0U, 0);
  }
  // Default handlers first, then the mask: a child of SpawnDetached shares
  // its caller's memory and must never run one of its handlers.
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);  // EINVAL for some: fine
  sigset_t mask;
  sigemptyset(&mask);
  for (int sig : options.blocked_signals) sigaddset(&mask, sig);
  sigprocmask(SIG_SETMASK, &mask, nullptr);
  execve(argv[0], argv, envp);
  fail(errno);
  _exit(127);
}

// Child side of Spawn.
[[noreturn]] void ExecChild(const SpawnOptions& options, pid_t parent, char* const* argv,
                            char* const* envp, int error_fd, bool report = true,
                            int join_cgroup_fd = -1) {
  auto fail = [error_fd, report](int err) { Fail(error_fd, err, report); };
  if (join_cgroup_fd >= 0) {
    int procs = openat(join_cgroup_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
    if (procs < 0 || syscall(SYS_write, procs, "0", 1) != 1) fail(errno);
    RawClose(procs);
  }
  if (options.group == SpawnOptions::Group::kNewSession) {
    if (setsid() < 0) fail(errno);
  } else if (options.group == SpawnOptions::Group::kNewProcessGroup) {
    if (setpgid(0, 0) < 0) fail(errno);
  }
  if (options.parent_death_signal != 0) {
    if (prctl(PR_SET_PDEATHSIG, options.parent_death_signal) < 0) fail(errno);
    // The parent may have died before prctl: then nobody will signal us.
    if (getppid() != parent) _exit(128 + options.parent_death_signal);
  }
  InstallAndExec(options, argv, envp, error_fd, report);
}

struct PreparedExec {
  std::vector<char*> argv;
  std::vector<std::string> env_storage;
  std::vector<char*> envp;
};

// Room for a pid written after fork: "NAME=" and this many digits.
constexpr int kPidDigits = 10;

void Prepare(const SpawnOptions& options, PreparedExec& exec,
             const std::string& pid_slot_name = "") {
  for (const std::string& arg : options.argv) exec.argv.push_back(const_cast<char*>(arg.c_str()));
  exec.argv.push_back(nullptr);
  exec.env_storage = options.extra_env;
  if (!pid_slot_name.empty()) {
    exec.env_storage.push_back(pid_slot_name + "=" + std::string(kPidDigits, '0'));
  }
  std::vector<std::string> replaced;
  for (const std::string& entry : exec.env_storage) {
    size_t equals = entry.find('=');
    if (equals != std::string::npos && equals > 0) replaced.push_back(entry.substr(0, equals + 1));
  }
  for (char** e = environ; e && *e; ++e) {
    bool keep = true;
    for (const std::string& prefix : replaced) {
      if (strncmp(*e, prefix.data(), prefix.size()) == 0) keep = false;
    }
    if (keep) exec.envp.push_back(*e);
  }
  for (std::string& entry : exec.env_storage) exec.envp.push_back(entry.data());
  exec.envp.push_back(nullptr);
}

// The digits of the pid slot Prepare added last. Async-signal-safe use:
// WritePid after fork.
char* PidSlotDigits(PreparedExec& exec) {
  std::string& slot = exec.env_storage.back();
  return slot.data() + slot.size() - kPidDigits;
}

void WritePid(char* digits, pid_t pid) {
  for (int i = kPidDigits - 1; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + pid % 10);
    pid /= 10;
  }
}

// Waits until every holder of the write end of `error_read` closed it (at
// its exec, or at its exit): 0 when all exec'd, else the first errno one
// of them reported.
int ReadExecError(int error_read) {
  int first = 0;
  for (;;) {
    int child_errno = 0;
    ssize_t n = read(error_read, &child_errno, sizeof(child_errno));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return first;
    if (n == sizeof(child_errno) && first == 0) first = child_errno;
  }
}

// SpawnDetached's children share the caller's memory until they exec
// (clone with CLONE_VM | CLONE_VFORK, as posix_spawn does): no page table
// is copied, so starting a daemon costs the same from a 10 GB process as
// from a small one. Each runs on its own small stack and makes system
// calls only; the caller, the middle and the daemon each wait (CLONE_VFORK)
// until their child exec'd or exited.
constexpr size_t kChildStack = 64 * 1024;

struct DetachedPlan {
  const SpawnOptions* options = nullptr;
  PreparedExec* exec = nullptr;
  int error_fd = -1;
  const Companion* companion = nullptr;
  PreparedExec* companion_exec = nullptr;
  char* daemon_pid_digits = nullptr;     // the companion's pid, for the daemon
  char* companion_pid_digits = nullptr;  // the daemon's pid, for the companion
  pid_t daemon_pid = 0;
  char* stack_tops[3] = {};  // middle, daemon, companion
};

int CompanionMain(void* arg) {
  auto* plan = static_cast<DetachedPlan*>(arg);
  // The error pipe stays open until our exec (so that the caller knows
  // when nobody runs on its memory any more), but a failure is not
  // reported there: the daemon finds us gone and deals with it.
  ExecChild(plan->companion->options, plan->daemon_pid, plan->companion_exec->argv.data(),
            plan->companion_exec->envp.data(), plan->error_fd, /*report=*/false);
}

int DaemonMain(void* arg) {
  auto* plan = static_cast<DetachedPlan*>(arg);
  if (plan->companion != nullptr) {
    plan->daemon_pid = getpid();
    WritePid(plan->companion_pid_digits, plan->daemon_pid);
    pid_t child = clone(CompanionMain, plan->stack_tops[2], CLONE_VM | CLONE_VFORK | SIGCHLD, plan);
    if (child < 0) Fail(plan->error_fd, errno);
    WritePid(plan->daemon_pid_digits, child);
  }
  InstallAndExec(*plan->options, plan->exec->argv.data(), plan->exec->envp.data(), plan->error_fd);
}

int MiddleMain(void* arg) {
  auto* plan = static_cast<DetachedPlan*>(arg);
  if (setsid() < 0) Fail(plan->error_fd, errno);
  if (clone(DaemonMain, plan->stack_tops[1], CLONE_VM | CLONE_VFORK | SIGCHLD, plan) < 0) {
    Fail(plan->error_fd, errno);
  }
  _exit(0);
}

}  // namespace

absl::StatusOr<pid_t> Spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("Spawn: empty argv");
  if (options.fds.size() > 16) return absl::InvalidArgumentError("Spawn: too many fds");
  PreparedExec exec;
  Prepare(options, exec);

  int error_pipe[2];
  if (pipe2(error_pipe, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe2");
  UniqueFd error_read(error_pipe[0]);
  UniqueFd error_write(error_pipe[1]);

  pid_t parent = getpid();
  pid_t pid = -1;
  bool join = options.cgroup_fd >= 0;
  if (join && ConfiguredCgroupMode() != CgroupMode::kJoin) {
    // A fork (no CLONE_VM) straight into the cgroup; the child makes
    // system calls only until its exec, as after fork().
    clone_args args = {};
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = static_cast<uint64_t>(options.cgroup_fd);
    pid = static_cast<pid_t>(syscall(SYS_clone3, &args, sizeof(args)));
    join = pid < 0 && (errno == ENOSYS || errno == E2BIG || errno == EINVAL);
    if (pid < 0 && !join) return ErrnoStatus(errno, "clone3 into a cgroup for " + options.argv[0]);
  }
  if (pid < 0) pid = fork();
  if (pid < 0) return ErrnoStatus(errno, "fork for " + options.argv[0]);
  if (pid == 0) {
    ExecChild(options, parent, exec.argv.data(), exec.envp.data(), error_write.get(), true,
              join ? options.cgroup_fd : -1);
  }

  error_write.reset();
  if (int child_errno = ReadExecError(error_read.get()); child_errno != 0) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return ErrnoStatus(child_errno, "cannot start " + options.argv[0]);
  }
  return pid;
}

absl::Status SpawnDetached(const SpawnOptions& options, const Companion* companion) {
  if (options.argv.empty()) return absl::InvalidArgumentError("SpawnDetached: empty argv");
  if (options.fds.size() > 16) return absl::InvalidArgumentError("SpawnDetached: too many fds");
  PreparedExec exec;
  PreparedExec companion_exec;
  char* daemon_pid_digits = nullptr;     // the companion's pid, for the daemon
  char* companion_pid_digits = nullptr;  // the daemon's pid, for the companion
  if (companion != nullptr) {
    if (companion->options.argv.empty() || companion->options.fds.size() > 16) {
      return absl::InvalidArgumentError("SpawnDetached: bad companion");
    }
    Prepare(options, exec, companion->pid_env);
    daemon_pid_digits = PidSlotDigits(exec);
    Prepare(companion->options, companion_exec, companion->parent_pid_env);
    companion_pid_digits = PidSlotDigits(companion_exec);
  } else {
    Prepare(options, exec);
  }
  int error_pipe[2];
  if (pipe2(error_pipe, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe2");
  UniqueFd error_read(error_pipe[0]);
  UniqueFd error_write(error_pipe[1]);

  DetachedPlan plan;
  plan.options = &options;
  plan.exec = &exec;
  plan.error_fd = error_write.get();
  plan.companion = companion;
  plan.companion_exec = &companion_exec;
  plan.daemon_pid_digits = daemon_pid_digits;
  plan.companion_pid_digits = companion_pid_digits;
  // Three stacks, each above a guard page.
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t slot = page + kChildStack;
  void* stacks = mmap(nullptr, 3 * slot, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stacks == MAP_FAILED) return ErrnoStatus(errno, "mmap for the spawn stacks");
  for (int i = 0; i < 3; ++i) {
    char* base = static_cast<char*>(stacks) + i * slot;
    mprotect(base, page, PROT_NONE);
    plan.stack_tops[i] = base + slot;
  }

  // No handler of ours may run in a child that shares our memory: block
  // every signal, glibc's internal ones included (the raw system call),
  // until the children reset their handlers and set their own mask.
  sigset_t all, old;
  sigfillset(&all);
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, _NSIG / 8);
  pid_t middle = clone(MiddleMain, plan.stack_tops[0], CLONE_VM | CLONE_VFORK | SIGCHLD, &plan);
  const int clone_errno = errno;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, nullptr, _NSIG / 8);
  error_write.reset();
  int child_errno = 0;
  if (middle >= 0) {
    int status;
    while (waitpid(middle, &status, 0) < 0 && errno == EINTR) {
    }
    // EOF on the error pipe: every process that shared our memory (the
    // daemon and its companion hold the pipe until their exec) has exec'd
    // or died. Only then are the stacks and the prepared argv free, even
    // if one of them was killed before its child exec'd.
    child_errno = ReadExecError(error_read.get());
  }
  munmap(stacks, 3 * slot);
  if (middle < 0) return ErrnoStatus(clone_errno, "clone for " + options.argv[0]);
  if (child_errno != 0) return ErrnoStatus(child_errno, "cannot start " + options.argv[0]);
  return absl::OkStatus();
}

absl::StatusOr<int> MemfdWithContent(const std::string& name, const std::string& content) {
  UniqueFd fd(memfd_create(name.c_str(), MFD_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, "memfd_create");
  if (absl::Status written = WriteAll(fd.get(), content); !written.ok()) return written;
  if (lseek(fd.get(), 0, SEEK_SET) != 0) return ErrnoStatus(errno, "lseek on memfd");
  return fd.release();
}

ProcessExit ProcessExit::FromSiginfo(const siginfo_t& info) {
  ProcessExit exit;
  exit.signaled = info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED;
  exit.code = info.si_status;
  return exit;
}

ProcessExit ProcessExit::FromWaitStatus(int status) {
  ProcessExit exit;
  if (WIFSIGNALED(status)) {
    exit.signaled = true;
    exit.code = WTERMSIG(status);
  } else {
    exit.code = WEXITSTATUS(status);
  }
  return exit;
}

std::string SignalName(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  if (abbrev == nullptr) return absl::StrCat("signal ", signal);
  return absl::StrCat("SIG", abbrev);
}

std::string ProcessExit::Describe() const {
  if (signaled) return absl::StrCat("killed by signal ", code, " (", SignalName(code), ")");
  return absl::StrCat("exited with code ", code);
}

int SignalProcessGroup(pid_t leader, int sig) {
  if (kill(-leader, sig) == 0) return 0;
  if (errno != ESRCH) return -1;
  return kill(leader, sig);
}

}  // namespace appkit
