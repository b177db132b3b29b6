#include "controller/prestarted_server.h"

#include <fcntl.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>
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
  std::string binary ABSL_GUARDED_BY(mu);
  std::string fingerprint ABSL_GUARDED_BY(mu);
};

// Never destroyed: the retiring thread may still wait on it at exit.
Slot& TheSlot() {
  static Slot* slot = new Slot;
  return *slot;
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
  for (int fd : {1, 2}) {
    struct stat st = {};
    if (fstat(fd, &st) != 0) st = {};
    absl::StrAppend(&print, "fd ", fd, " ", st.st_dev, ":", st.st_ino, "\n");
  }
  return print;
}

void PrestartWorkerServer(const std::string& binary, const std::string& title,
                          absl::Duration standby) {
  Slot& slot = TheSlot();
  int generation = 0;
  {
    absl::MutexLock lock(&slot.mu);
    if (!slot.done) return;  // one is waiting
    absl::StatusOr<std::unique_ptr<ForkServer>> server =
        ForkServer::Start(binary, {}, /*cgroup_fd=*/-1, title);
    if (!server.ok()) {
      Log().debug("no worker fork server prestarted: {}", std::string(server.status().message()));
      slot.done = true;
      return;
    }
    slot.server = std::move(*server);
    slot.binary = binary;
    slot.fingerprint = ProcessFingerprint();
    slot.done = false;
    generation = ++slot.generation;
  }
  const absl::Time deadline = absl::Now() + standby;
  std::thread([&slot, deadline, generation] {
    std::unique_ptr<ForkServer> retired;
    {
      absl::MutexLock lock(&slot.mu);
      auto over = [&slot, generation]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(slot.mu) {
        return slot.done || slot.generation != generation;
      };
      slot.mu.AwaitWithDeadline(absl::Condition(&over), deadline);
      if (over()) return;  // claimed (or retired, and another one started)
      slot.done = true;
      retired = std::move(slot.server);
    }
    Log().debug("worker fork server {} unclaimed: retired", retired->pid());
  }).detach();  // `retired` (closed, killed, reaped) goes before the thread ends
}

std::unique_ptr<ForkServer> TakePrestartedWorkerServer(const std::string& binary) {
  Slot& slot = TheSlot();
  std::unique_ptr<ForkServer> server;
  std::string fingerprint;
  {
    absl::MutexLock lock(&slot.mu);
    if (slot.done || !slot.server) return nullptr;
    slot.done = true;
    server = std::move(slot.server);
    if (slot.binary != binary) {
      Log().debug("prestarted worker fork server {} runs {}, not {}: retired", server->pid(),
                  slot.binary, binary);
      return nullptr;
    }
    fingerprint = std::move(slot.fingerprint);
  }
  if (ProcessFingerprint() != fingerprint) {
    Log().debug(
        "prestarted worker fork server {}: this process changed since (environment, "
        "directory, credentials or limits): retired",
        server->pid());
    return nullptr;
  }
  return server;
}

}  // namespace appkit::controller
