#include "controller/prestarted_server.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/base/fd_io.h"
#include "common/base/log.h"
#include "common/base/unique_fd.h"
#include "common/process/cgroup.h"
#include "common/process/child_setup.h"
#include "common/process/fork_server_protocol.h"
#include "common/process/process_title.h"
#include "proto/wire.h"

extern char** environ;

namespace appkit::controller {
namespace {

// The lines of /proc/thread-self/status a child keeps across exec.
constexpr absl::string_view kInheritedStatus[] = {"Umask:",
                                                  "Uid:",
                                                  "Gid:",
                                                  "Groups:",
                                                  "CapInh:",
                                                  "CapPrm:",
                                                  "CapEff:",
                                                  "CapBnd:",
                                                  "CapAmb:",
                                                  "NoNewPrivs:",
                                                  "Seccomp:",
                                                  "Seccomp_filters:",
                                                  "Cpus_allowed_list:",
                                                  "Mems_allowed_list:"};

// The namespaces a child is created in.
constexpr const char* kNamespaces[] = {"mnt",    "pid_for_children", "net", "ipc", "uts", "user",
                                       "cgroup", "time_for_children"};

std::string Link(const std::string& path) {
  char target[4096];
  const ssize_t n = readlink(path.c_str(), target, sizeof(target));
  return n > 0 ? std::string(target, static_cast<size_t>(n)) : "?";
}

struct Slot {
  absl::Mutex mu;
  int generation ABSL_GUARDED_BY(mu) = 0;  // of the last Prestart
  bool done ABSL_GUARDED_BY(mu) = true;    // claimed or retired (or none yet)
  std::unique_ptr<ForkServer> server ABSL_GUARDED_BY(mu);
  std::string cgroup ABSL_GUARDED_BY(mu);  // the pool's, made for it ("": none)
  std::string fingerprint ABSL_GUARDED_BY(mu);
};

// Never destroyed: the retiring thread may still wait on it at exit.
Slot& TheSlot() {
  static Slot* slot = new Slot;
  return *slot;
}

// Kills and reaps `server`, then removes the (now empty) pool cgroup made
// for it.
void Retire(std::unique_ptr<ForkServer> server, const std::string& cgroup) {
  server.reset();
  if (!cgroup.empty()) (void)RemoveCgroupTree(cgroup, /*keep_top=*/false);
}

}  // namespace

std::string ProcessFingerprint() {
  std::string print;
  for (char** e = environ; e && *e; ++e) absl::StrAppend(&print, *e, "\n");
  char cwd[4096];
  // The thread: a server's parent-death signal (and its children's, forked
  // with CLONE_PARENT) follows the thread that started it.
  absl::StrAppend(&print, "thread ", gettid(), "\n");
  absl::StrAppend(&print, "cwd ", getcwd(cwd, sizeof(cwd)) ? cwd : "?", "\n");
  absl::StrAppend(&print, "root ", Link("/proc/thread-self/root"), "\n");
  UniqueFd status_file(open("/proc/thread-self/status", O_RDONLY | O_CLOEXEC));
  absl::StatusOr<std::string> status =
      status_file ? ReadAll(status_file.get()) : absl::StatusOr<std::string>("?");
  if (status.ok()) {
    for (absl::string_view line : absl::StrSplit(*status, '\n')) {
      for (absl::string_view name : kInheritedStatus) {
        if (line.substr(0, name.size()) == name) absl::StrAppend(&print, line, "\n");
      }
    }
  }
  for (int resource = 0; resource < RLIM_NLIMITS; ++resource) {
    rlimit limit = {};
    getrlimit(resource, &limit);
    // The fd soft limit is set for each worker (WorkerLaunch.user_fd_limit).
    if (resource == RLIMIT_NOFILE) limit.rlim_cur = 0;
    absl::StrAppend(&print, "rlimit ", resource, " ", limit.rlim_cur, " ", limit.rlim_max, "\n");
  }
  errno = 0;
  absl::StrAppend(&print, "nice ", getpriority(PRIO_PROCESS, 0), " ", errno, "\n");
  absl::StrAppend(&print, "personality ", personality(0xffffffff), "\n");
  for (const char* ns : kNamespaces) {
    absl::StrAppend(&print, ns, " ", Link(absl::StrCat("/proc/thread-self/ns/", ns)), "\n");
  }
  return print;
}

void PrestartWorkerServer(const std::function<int()>& serve, const std::string& title,
                          absl::Duration standby) {
  Slot& slot = TheSlot();
  int generation = 0;
  {
    absl::MutexLock lock(&slot.mu);
    if (!slot.done) return;  // one is waiting
    int ends[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) {
      Log().debug("no worker fork server prestarted: socketpair: {}", strerror(errno));
      return;
    }
    UniqueFd ours(ends[0]);
    UniqueFd theirs(ends[1]);
    // As ForkServer::Start sets up the servers it execs.
    ChildSetup setup;
    setup.group = ChildGroup::kNewProcessGroup;
    setup.parent = getpid();
    setup.parent_death_signal = SIGTERM;
    setup.Block(SIGTERM);
    setup.AddFd(theirs.get(), wire::kForkServerFd);
    const std::string supervisor = std::to_string(getpid());
    // Born in the pool's cgroup (a move would wait for an RCU grace period):
    // the cgroup a pool's fork server cleans up from, which whoever clears
    // the daemon's waits for (common/process/cgroup.h). The pool adopts it
    // (WorkerCgroups::Create); retired, it is removed.
    std::string cgroup;
    UniqueFd cgroup_fd;
    if (absl::StatusOr<std::string> own = OwnCgroupDir(); own.ok()) {
      absl::StatusOr<std::string> made = CreateCgroup(*own, PoolCgroupName(getpid()));
      absl::StatusOr<UniqueFd> fd = made.ok() ? OpenCgroup(*made) : made.status();
      if (fd.ok()) {
        cgroup = *made;
        cgroup_fd = std::move(*fd);
      } else if (made.ok()) {
        (void)RemoveCgroupTree(*made, /*keep_top=*/false);
      }
    }
    bool try_clone3 = ConfiguredCgroupMode() != CgroupMode::kJoin;  // as Spawn
    bool join = false;
    const pid_t pid =
        ForkChild(/*clone_parent=*/false, cgroup_fd ? cgroup_fd.get() : -1, try_clone3, join);
    if (pid == 0) {
      if (join) setup.join_cgroup_fd = cgroup_fd.get();
      if (!SetUpChild(setup).ok()) _exit(127);
      setenv(fork_server_protocol::kSupervisorEnv, supervisor.c_str(), 1);
      if (!title.empty()) SetProcessTitle(title, "appkit-forksrv");
      _exit(serve());
    }
    if (pid < 0) {
      Log().debug("no worker fork server prestarted: fork: {}", strerror(errno));
      if (!cgroup.empty()) (void)RemoveCgroupTree(cgroup, /*keep_top=*/false);
      return;
    }
    setpgid(pid, pid);  // as the child does: its group from now on, whoever runs first
    slot.server = ForkServer::FromChild(pid, std::move(ours));
    slot.cgroup = cgroup;
    slot.fingerprint = ProcessFingerprint();
    slot.done = false;
    generation = ++slot.generation;
  }
  const absl::Time deadline = absl::Now() + standby;
  std::thread([&slot, deadline, generation] {
    std::unique_ptr<ForkServer> retired;
    std::string cgroup;
    {
      absl::MutexLock lock(&slot.mu);
      auto over = [&slot, generation]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(slot.mu) {
        return slot.done || slot.generation != generation;
      };
      slot.mu.AwaitWithDeadline(absl::Condition(&over), deadline);
      if (over()) return;  // claimed (or retired, and another one started)
      slot.done = true;
      retired = std::move(slot.server);
      cgroup = std::move(slot.cgroup);
    }
    Log().debug("worker fork server {} unclaimed: retired", retired->pid());
    Retire(std::move(retired), cgroup);
  }).detach();
}

PrestartedServer TakePrestartedWorkerServer(size_t workers) {
  Slot& slot = TheSlot();
  PrestartedServer taken;
  std::string fingerprint;
  {
    absl::MutexLock lock(&slot.mu);
    if (slot.done || !slot.server) return {};
    slot.done = true;
    taken.server = std::move(slot.server);
    taken.cgroup = std::move(slot.cgroup);
    fingerprint = std::move(slot.fingerprint);
  }
  if (workers > kPrestartedServerMaxWorkers) {
    Retire(std::move(taken.server), taken.cgroup);
    return {};
  }
  if (ProcessFingerprint() != fingerprint) {
    Log().debug(
        "prestarted worker fork server {}: this process changed since (environment, "
        "directory, credentials or limits): retired",
        taken.server->pid());
    Retire(std::move(taken.server), taken.cgroup);
    return {};
  }
  return taken;
}

}  // namespace appkit::controller
