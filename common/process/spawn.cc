#include "common/process/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/base/errno_status.h"
#include "common/base/fd_io.h"
#include "common/base/unique_fd.h"
#include "common/process/cgroup.h"

extern char** environ;

namespace appkit {
namespace {

// Child side, between fork (or a CLONE_VM clone) and exec: reports `err`
// on the error pipe (when `report`) and exits. A raw write: glibc's is a
// cancellation point that reads the pthread state a CLONE_VM child shares
// with its caller's thread.
[[noreturn]] void Fail(int error_fd, int err, bool report = true) {
  if (report && error_fd >= 0) syscall(SYS_write, error_fd, &err, sizeof(err));
  _exit(127);
}

// Child side: sets the child up (common/process/child_setup.h) and execs. Its
// `keep_fd` is the error pipe, open until the exec (close-on-exec). A
// failure is written there, or, with `error_out`, stored in that memory
// (a CLONE_VM child's parent reads it once the child is gone).
[[noreturn]] void SetUpAndExec(const ChildSetup& setup, const char* path, char* const* argv,
                               char* const* envp, int* error_out = nullptr) {
  ChildSetupResult result = SetUpChild(setup);
  if (result.ok()) {
    execve(path, argv, envp);
    result.error = errno;
  }
  if (error_out != nullptr) *error_out = result.error;
  Fail(result.keep_fd, result.error, /*report=*/error_out == nullptr);
}

constexpr size_t kMaxFds = ChildSetup::kMaxFds;

// The child's set-up for `options`, made before the fork or clone.
ChildSetup SetupFor(const SpawnOptions& options, pid_t parent, int error_fd) {
  ChildSetup setup;
  setup.group = options.group;
  setup.parent_death_signal = options.parent_death_signal;
  setup.parent = parent;
  for (const auto& [source, target] : options.fds) setup.AddFd(source, target);
  for (int sig : options.blocked_signals) setup.Block(sig);
  setup.keep_fd = error_fd;
  setup.fd_soft_limit = options.fd_soft_limit;
  if (!options.working_directory.empty()) {
    setup.working_directory = options.working_directory.c_str();
  }
  return setup;
}

struct PreparedExec {
  const char* path = nullptr;  // the binary
  std::vector<char*> argv;
  std::vector<std::string> env_storage;
  std::vector<char*> envp;
};

// Room for a pid written after fork: "NAME=" and this many digits.
constexpr int kPidDigits = 10;

// `slot_names`: variables added with kPidDigits zeros, to be written
// after the fork (SlotDigits, WriteNumber), in that order at the end.
void Prepare(const SpawnOptions& options, PreparedExec& exec,
             const std::vector<std::string>& slot_names = {}) {
  for (const std::string& arg : options.argv) exec.argv.push_back(const_cast<char*>(arg.c_str()));
  exec.argv.push_back(nullptr);
  exec.path = options.argv[0].c_str();
  if (!options.argv0.empty()) exec.argv[0] = const_cast<char*>(options.argv0.c_str());
  exec.env_storage = options.extra_env;
  for (const std::string& name : slot_names) {
    if (!name.empty()) exec.env_storage.push_back(name + "=" + std::string(kPidDigits, '0'));
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

// The digits of a slot Prepare added: `from_end` 0 is the last one.
// Async-signal-safe use: WriteNumber after fork.
char* SlotDigits(PreparedExec& exec, size_t from_end = 0) {
  std::string& slot = exec.env_storage[exec.env_storage.size() - 1 - from_end];
  return slot.data() + slot.size() - kPidDigits;
}

void WriteNumber(char* digits, int number) {
  for (int i = kPidDigits - 1; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + number % 10);
    number /= 10;
  }
}

// The pipe on which a child reports why it could not start (an errno),
// close-on-exec: EOF once every child holding it exec'd or died.
absl::Status ErrorPipe(UniqueFd& read_end, UniqueFd& write_end) {
  int ends[2];
  if (pipe2(ends, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe2");
  read_end.reset(ends[0]);
  write_end.reset(ends[1]);
  return absl::OkStatus();
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

// Every child of Spawn and SpawnDetached shares its caller's memory until
// it execs (clone with CLONE_VM | CLONE_VFORK, as posix_spawn does): no
// page table is copied and the caller takes no copy-on-write faults after,
// so starting a program costs the same from a 10 GB process as from a
// small one (from the guardian, ~2 ms less per program start than fork()
// here: bench/README.md).
// Each runs on its own small stack and makes system calls only; its caller
// waits (CLONE_VFORK) until it exec'd or exited.
constexpr size_t kChildStack = 64 * 1024;

// `count` child stacks, each above a guard page; unmapped when destroyed
// (once no child runs on them: after CLONE_VFORK returned, and for
// SpawnDetached's grandchildren after the error pipe's EOF).
class ChildStacks {
 public:
  static absl::StatusOr<ChildStacks> Map(int count) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t slot = page + kChildStack;
    void* stacks = mmap(nullptr, count * slot, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stacks == MAP_FAILED) return ErrnoStatus(errno, "mmap for the spawn stacks");
    for (int i = 0; i < count; ++i) {
      mprotect(static_cast<char*>(stacks) + i * slot, page, PROT_NONE);
    }
    return ChildStacks(static_cast<char*>(stacks), count * slot, page);
  }
  ChildStacks(ChildStacks&& other) noexcept
      : base_(std::exchange(other.base_, nullptr)), size_(other.size_), page_(other.page_) {}
  ChildStacks& operator=(ChildStacks&&) = delete;
  ~ChildStacks() {
    if (base_ != nullptr) munmap(base_, size_);
  }
  // The lowest usable byte of stack `i` (above its guard page).
  char* low(int i) const { return base_ + i * (page_ + kChildStack) + page_; }
  char* top(int i) const { return low(i) + kChildStack; }

 private:
  ChildStacks(char* base, size_t size, size_t page) : base_(base), size_(size), page_(page) {}
  char* base_;
  size_t size_;
  size_t page_;
};

// No handler of ours may run in a child that shares our memory: every
// signal, glibc's internal ones included (the raw system call), stays
// blocked from before the clone until the child reset its handlers and
// set its own mask (SetUpChild step 6); the caller's mask comes back when
// this is destroyed.
class AllSignalsBlocked {
 public:
  AllSignalsBlocked() {
    sigset_t all;
    sigfillset(&all);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old_, _NSIG / 8);
  }
  ~AllSignalsBlocked() { syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old_, nullptr, _NSIG / 8); }

 private:
  sigset_t old_;
};

// Spawn's child.
struct SpawnPlan {
  ChildSetup setup;
  const PreparedExec* exec = nullptr;
};

int SpawnMain(void* arg) {
  auto* plan = static_cast<SpawnPlan*>(arg);
  SetUpAndExec(plan->setup, plan->exec->path, plan->exec->argv.data(), plan->exec->envp.data());
}

struct DetachedPlan {
  ChildSetup daemon;  // kInherit, no parent-death signal: the middle made the session
  PreparedExec* exec = nullptr;
  int error_fd = -1;
  bool has_companion = false;
  ChildSetup companion;  // its parent, the daemon, is written by the daemon
  PreparedExec* companion_exec = nullptr;
  char* daemon_pid_digits = nullptr;     // the companion's pid, for the daemon
  char* daemon_error_digits = nullptr;   // the companion's exec errno, for the daemon
  char* companion_pid_digits = nullptr;  // the daemon's pid, for the companion
  int companion_error = 0;               // written by a companion that could not exec
  char* stack_tops[3] = {};              // middle, daemon, companion
};

int CompanionMain(void* arg) {
  auto* plan = static_cast<DetachedPlan*>(arg);
  // The error pipe stays open until our exec (so that the caller knows
  // when nobody runs on its memory any more), but a failure is not the
  // caller's: it goes to the daemon, through the memory we share.
  SetUpAndExec(plan->companion, plan->companion_exec->path, plan->companion_exec->argv.data(),
               plan->companion_exec->envp.data(), &plan->companion_error);
}

int DaemonMain(void* arg) {
  auto* plan = static_cast<DetachedPlan*>(arg);
  if (plan->has_companion) {
    plan->companion.parent = getpid();
    WriteNumber(plan->companion_pid_digits, plan->companion.parent);
    pid_t child = clone(CompanionMain, plan->stack_tops[2], CLONE_VM | CLONE_VFORK | SIGCHLD, plan);
    if (child < 0) Fail(plan->error_fd, errno);
    // CLONE_VFORK: the companion exec'd, or stored why not and is exiting.
    WriteNumber(plan->daemon_pid_digits, child);
    if (plan->daemon_error_digits != nullptr) {
      WriteNumber(plan->daemon_error_digits, plan->companion_error);
    }
  }
  SetUpAndExec(plan->daemon, plan->exec->path, plan->exec->argv.data(), plan->exec->envp.data());
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
  if (options.fds.size() > kMaxFds) return absl::InvalidArgumentError("Spawn: too many fds");
  PreparedExec exec;
  Prepare(options, exec);

  UniqueFd error_read, error_write;
  if (absl::Status piped = ErrorPipe(error_read, error_write); !piped.ok()) return piped;

  SpawnPlan plan;
  plan.setup = SetupFor(options, getpid(), error_write.get());
  plan.exec = &exec;
  absl::StatusOr<ChildStacks> stack = ChildStacks::Map(1);
  if (!stack.ok()) return stack.status();
  // Straight into the cgroup when asked (clone3 CLONE_INTO_CGROUP), else
  // (the kernel refuses it, or kJoin is configured) the child joins it
  // before its exec.
  bool into_cgroup = options.cgroup_fd >= 0 && ConfiguredCgroupMode() != CgroupMode::kJoin;
  if (options.cgroup_fd >= 0 && !into_cgroup) plan.setup.join_cgroup_fd = options.cgroup_fd;
  pid_t pid;
  int clone_errno;
  {
    AllSignalsBlocked blocked;
    pid = CloneVforkChild(SpawnMain, &plan, stack->low(0), kChildStack,
                          into_cgroup ? options.cgroup_fd : -1);
    clone_errno = errno;
    if (pid < 0 && into_cgroup && Clone3Refused(clone_errno)) {
      into_cgroup = false;
      plan.setup.join_cgroup_fd = options.cgroup_fd;
      pid = CloneVforkChild(SpawnMain, &plan, stack->low(0), kChildStack, -1);
      clone_errno = errno;
    }
  }
  if (pid < 0) {
    const char* how = into_cgroup ? "clone3 into a cgroup" : "clone";
    return ErrnoStatus(clone_errno, absl::StrCat(how, " for ", options.argv[0]));
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
  if (options.fds.size() > kMaxFds) {
    return absl::InvalidArgumentError("SpawnDetached: too many fds");
  }
  PreparedExec exec;
  PreparedExec companion_exec;
  char* daemon_pid_digits = nullptr;     // the companion's pid, for the daemon
  char* daemon_error_digits = nullptr;   // the companion's exec errno, for the daemon
  char* companion_pid_digits = nullptr;  // the daemon's pid, for the companion
  if (companion != nullptr) {
    if (companion->options.argv.empty() || companion->options.fds.size() > kMaxFds ||
        companion->pid_env.empty() || companion->parent_pid_env.empty()) {
      return absl::InvalidArgumentError("SpawnDetached: bad companion");
    }
    const bool with_error = !companion->exec_error_env.empty();
    Prepare(options, exec, {companion->pid_env, companion->exec_error_env});
    daemon_pid_digits = SlotDigits(exec, with_error ? 1 : 0);
    if (with_error) daemon_error_digits = SlotDigits(exec);
    Prepare(companion->options, companion_exec, {companion->parent_pid_env});
    companion_pid_digits = SlotDigits(companion_exec);
  } else {
    Prepare(options, exec);
  }
  UniqueFd error_read, error_write;
  if (absl::Status piped = ErrorPipe(error_read, error_write); !piped.ok()) return piped;

  DetachedPlan plan;
  plan.daemon = SetupFor(options, 0, error_write.get());
  plan.daemon.group = ChildGroup::kInherit;
  plan.daemon.parent_death_signal = 0;
  plan.exec = &exec;
  plan.error_fd = error_write.get();
  plan.has_companion = companion != nullptr;
  if (companion != nullptr) plan.companion = SetupFor(companion->options, 0, error_write.get());
  plan.companion_exec = &companion_exec;
  plan.daemon_pid_digits = daemon_pid_digits;
  plan.daemon_error_digits = daemon_error_digits;
  plan.companion_pid_digits = companion_pid_digits;
  absl::StatusOr<ChildStacks> stacks = ChildStacks::Map(3);
  if (!stacks.ok()) return stacks.status();
  for (int i = 0; i < 3; ++i) plan.stack_tops[i] = stacks->top(i);

  pid_t middle;
  int clone_errno;
  {
    AllSignalsBlocked blocked;
    middle = clone(MiddleMain, plan.stack_tops[0], CLONE_VM | CLONE_VFORK | SIGCHLD, &plan);
    clone_errno = errno;
  }
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

}  // namespace appkit
