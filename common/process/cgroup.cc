#include "common/process/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/base/errno_status.h"
#include "common/base/fd_io.h"
#include "common/process/pidfd.h"

namespace appkit {
namespace {

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, "cannot read " + path);
  return ReadAll(fd.get());
}

// Octal escapes of /proc/self/mountinfo ("\040" for a space).
std::string Unescape(absl::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      int value = 0;
      bool octal = true;
      for (size_t j = 1; j <= 3; ++j) {
        if (field[i + j] < '0' || field[i + j] > '7') octal = false;
        value = value * 8 + (field[i + j] - '0');
      }
      if (octal) {
        out.push_back(static_cast<char>(value));
        i += 3;
        continue;
      }
    }
    out.push_back(field[i]);
  }
  return out;
}

std::string SafeName(const std::string& text, size_t max) {
  std::string out;
  for (char c : text.substr(0, max)) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
    out.push_back(safe ? c : '_');
  }
  return out.empty() ? "_" : out;
}

// `path` and every cgroup below it, parents before children.
void CollectTree(const std::string& path, std::vector<std::string>& out) {
  out.push_back(path);
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return;
  std::vector<std::string> children;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_type != DT_DIR) continue;
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
    children.push_back(path + "/" + entry->d_name);
  }
  closedir(dir);
  for (const std::string& child : children) CollectTree(child, out);
}

std::vector<pid_t> ProcsOf(const std::string& cgroup) {
  std::vector<pid_t> pids;
  absl::StatusOr<std::string> text = ReadSmallFile(cgroup + "/cgroup.procs");
  if (!text.ok()) return pids;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    int pid;
    if (absl::SimpleAtoi(line, &pid) && pid > 0) pids.push_back(pid);
  }
  return pids;
}

std::vector<pid_t> ProcsOfTree(const std::vector<std::string>& tree) {
  std::vector<pid_t> pids;
  for (const std::string& cgroup : tree) {
    std::vector<pid_t> here = ProcsOf(cgroup);
    pids.insert(pids.end(), here.begin(), here.end());
  }
  return pids;
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

CgroupMode ConfiguredCgroupMode() {
  const char* value = getenv(kCgroupModeEnv);
  if (value == nullptr) return CgroupMode::kAuto;
  if (strcmp(value, "off") == 0) return CgroupMode::kOff;
  if (strcmp(value, "join") == 0) return CgroupMode::kJoin;
  return CgroupMode::kAuto;
}

absl::StatusOr<std::string> CgroupDirFrom(std::string_view mountinfo_text,
                                          std::string_view proc_cgroup_text) {
  const absl::string_view mountinfo(mountinfo_text.data(), mountinfo_text.size());
  const absl::string_view proc_cgroup(proc_cgroup_text.data(), proc_cgroup_text.size());
  std::string own;
  bool found = false;
  for (absl::string_view line : absl::StrSplit(proc_cgroup, '\n', absl::SkipEmpty())) {
    if (line.substr(0, 3) == "0::") {
      own = std::string(line.substr(3));
      found = true;
    }
  }
  if (!found || own.empty() || own[0] != '/') {
    return absl::FailedPreconditionError(
        "this process is in no cgroup2 cgroup (no \"0::/...\" line in /proc/self/cgroup)");
  }
  std::string mounted;  // for the error: the cgroup2 mounts seen
  for (absl::string_view line : absl::StrSplit(mountinfo, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
    auto dash = std::find(fields.begin(), fields.end(), "-");
    if (fields.size() < 5 || dash == fields.end() || dash + 1 == fields.end()) continue;
    if (*(dash + 1) != "cgroup2") continue;
    const std::string root = Unescape(fields[3]);
    const std::string point = Unescape(fields[4]);
    absl::StrAppend(&mounted, mounted.empty() ? "" : ", ", point);
    std::string relative;
    if (root == "/") {
      relative = own;
    } else if (own == root) {
      relative = "";
    } else if (own.compare(0, root.size() + 1, root + "/") == 0) {
      relative = own.substr(root.size());
    } else {
      continue;
    }
    if (relative == "/") relative.clear();
    return point + relative;
  }
  if (mounted.empty()) {
    return absl::NotFoundError("cgroup2 is not mounted (no cgroup2 line in /proc/self/mountinfo)");
  }
  return absl::NotFoundError(
      absl::StrCat("this process's cgroup ", own, " is not under a cgroup2 mount (", mounted, ")"));
}

absl::StatusOr<std::string> OwnCgroupDir() {
  absl::StatusOr<std::string> mountinfo = ReadSmallFile("/proc/self/mountinfo");
  if (!mountinfo.ok()) return mountinfo.status();
  absl::StatusOr<std::string> proc_cgroup = ReadSmallFile("/proc/self/cgroup");
  if (!proc_cgroup.ok()) return proc_cgroup.status();
  return CgroupDirFrom(*mountinfo, *proc_cgroup);
}

std::string DaemonCgroupName(const std::string& pid_filename, pid_t guardian) {
  return absl::StrCat("appkit-", SafeName(BaseName(pid_filename), 64), "-", guardian);
}

std::string PoolCgroupName(pid_t controller) { return absl::StrCat(kPoolCgroupPrefix, controller); }

std::string WorkerCgroupName(int index, const std::string& worker_name) {
  return absl::StrCat("w", index, "-", SafeName(worker_name, 64));
}

absl::StatusOr<std::string> CreateCgroup(const std::string& parent, const std::string& name) {
  if (ConfiguredCgroupMode() == CgroupMode::kOff) {
    return absl::FailedPreconditionError(
        absl::StrCat("cgroups are disabled (", kCgroupModeEnv, "=off)"));
  }
  struct statfs fs;
  if (statfs(parent.c_str(), &fs) != 0) return ErrnoStatus(errno, "cannot use cgroup " + parent);
  if (fs.f_type != CGROUP2_SUPER_MAGIC) {
    return absl::FailedPreconditionError(absl::StrCat(parent, " is not a cgroup2 directory"));
  }
  const std::string procs = parent + "/cgroup.procs";
  if (access(procs.c_str(), W_OK) != 0) return ErrnoStatus(errno, "cannot write " + procs);
  const std::string path = parent + "/" + name;
  if (mkdir(path.c_str(), 0755) != 0) return ErrnoStatus(errno, "cannot create cgroup " + path);
  return path;
}

absl::StatusOr<UniqueFd> OpenCgroup(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, "cannot open cgroup " + path);
  return fd;
}

absl::Status JoinCgroup(const std::string& path) {
  const std::string procs = path + "/cgroup.procs";
  UniqueFd fd(open(procs.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd || write(fd.get(), "0", 1) != 1) return ErrnoStatus(errno, "cannot join cgroup " + path);
  return absl::OkStatus();
}

absl::StatusOr<bool> CgroupPopulated(const std::string& path) {
  absl::StatusOr<std::string> events = ReadSmallFile(path + "/cgroup.events");
  if (!events.ok()) {
    if (absl::IsNotFound(events.status())) return false;
    return events.status();
  }
  return events->find("populated 1") != std::string::npos;
}

absl::StatusOr<UniqueFd> OpenCgroupEvents(const std::string& path) {
  UniqueFd events(open((path + "/cgroup.events").c_str(), O_RDONLY | O_CLOEXEC));
  if (!events) return ErrnoStatus(errno, "cannot open " + path + "/cgroup.events");
  return events;
}

absl::StatusOr<bool> ReadCgroupPopulated(int events_fd) {
  // A read from the start (kernfs clears the urgent condition on a read).
  char buf[256];
  ssize_t n;
  do {
    n = pread(events_fd, buf, sizeof(buf) - 1, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoStatus(errno, "cannot read cgroup.events");
  buf[n] = '\0';
  return strstr(buf, "populated 0") == nullptr;
}

std::vector<std::string> CgroupTree(const std::string& path) {
  std::vector<std::string> tree;
  CollectTree(path, tree);
  return tree;
}

bool WaitUntilCgroupEmpty(const std::string& path, absl::Time deadline) {
  absl::StatusOr<UniqueFd> events = OpenCgroupEvents(path);
  if (!events.ok()) return absl::IsNotFound(events.status());
  for (;;) {
    // Read, then poll: kernfs signals POLLPRI for changes after the read.
    absl::StatusOr<bool> populated = ReadCgroupPopulated(events->get());
    if (!populated.ok()) return false;
    if (!*populated) return true;
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd wait = {events->get(), POLLPRI, 0};
    const int64_t ms = std::min<int64_t>(
        absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), 1 << 30);
    if (poll(&wait, 1, static_cast<int>(ms)) < 0 && errno != EINTR) return false;
  }
}

absl::StatusOr<CgroupKillPass> KillCgroupTreeOnce(const std::string& path, bool use_cgroup_kill) {
  std::vector<std::string> tree;
  CollectTree(path, tree);
  CgroupKillPass pass;
  const std::vector<pid_t> listed = ProcsOfTree(tree);
  pass.listed = static_cast<int>(listed.size());
  if (listed.empty()) return pass;
  if (use_cgroup_kill) {
    UniqueFd kill_file(open((path + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC));
    if (kill_file) {
      if (write(kill_file.get(), "1", 1) != 1) {
        return ErrnoStatus(errno, "cannot write " + path + "/cgroup.kill");
      }
      pass.by_cgroup_kill = true;
      return pass;
    }
    if (errno != ENOENT) return ErrnoStatus(errno, "cannot open " + path + "/cgroup.kill");
  }
  // A pid is signalled through a pidfd opened before a second listing
  // that still shows it: never a stranger that reused the pid.
  std::vector<std::pair<pid_t, UniqueFd>> pidfds;
  for (pid_t pid : listed) {
    UniqueFd pidfd = OpenPidfd(pid);
    if (pidfd) pidfds.emplace_back(pid, std::move(pidfd));  // else gone already
  }
  std::vector<pid_t> still = ProcsOfTree(tree);
  std::sort(still.begin(), still.end());
  for (auto& [pid, pidfd] : pidfds) {
    if (std::binary_search(still.begin(), still.end(), pid)) {
      SignalPidfd(pidfd.get(), SIGKILL);
      pass.signalled.push_back(std::move(pidfd));
    }
  }
  return pass;
}

absl::StatusOr<int> KillCgroupTree(const std::string& path, absl::Time deadline,
                                   bool use_cgroup_kill) {
  absl::StatusOr<CgroupKillPass> pass = KillCgroupTreeOnce(path, use_cgroup_kill);
  if (!pass.ok()) return pass.status();
  const int count = pass->listed;
  // Pid by pid, until a whole pass lists nobody (a process may fork until
  // it dies).
  while (pass->listed > 0 && !pass->by_cgroup_kill) {
    for (const UniqueFd& pidfd : pass->signalled) WaitForExit(pidfd.get(), deadline);
    if (absl::Now() >= deadline) {
      std::vector<std::string> tree;
      CollectTree(path, tree);
      const size_t left = ProcsOfTree(tree).size();
      if (left == 0) break;
      return absl::DeadlineExceededError(
          absl::StrCat(left, " processes still in cgroup ", path, " after SIGKILL"));
    }
    pass = KillCgroupTreeOnce(path, /*use_cgroup_kill=*/false);
    if (!pass.ok()) return pass.status();
  }
  return count;
}

namespace {

// Removes `tree` (as CollectTree gives it) deepest first.
absl::Status RemoveTree(const std::string& path, const std::vector<std::string>& tree,
                        bool keep_top) {
  absl::Status first;
  for (auto it = tree.rbegin(); it != tree.rend(); ++it) {
    if (keep_top && *it == path) continue;
    if (rmdir(it->c_str()) != 0 && errno != ENOENT && first.ok()) {
      first = ErrnoStatus(errno, "cannot remove cgroup " + *it);
    }
  }
  return first;
}

}  // namespace

absl::Status RemoveCgroupTree(const std::string& path, bool keep_top) {
  std::vector<std::string> tree;
  CollectTree(path, tree);
  return RemoveTree(path, tree, keep_top);
}

absl::StatusOr<int> ClearCgroup(const std::string& path, absl::Duration wait, bool keep_top) {
  if (!Exists(path)) return 0;
  // A pool's fork server below whose controller died is removing its
  // workers' pid files: let it finish, then it leaves its cgroup.
  std::vector<std::string> tree;
  CollectTree(path, tree);
  const absl::Time cleaners_deadline = absl::Now() + wait;
  for (size_t i = 1; i < tree.size(); ++i) {
    if (BaseName(tree[i]).rfind(kPoolCgroupPrefix, 0) == 0) {
      WaitUntilCgroupEmpty(tree[i], cleaners_deadline);
    }
  }
  absl::StatusOr<bool> populated = CgroupPopulated(path);
  int killed = 0;
  if (!populated.ok() || *populated) {
    const absl::Time deadline = absl::Now() + wait;
    // cgroup.kill only on what is removed right after: on Linux 6.18 (at
    // least) a child cloned into a cgroup after its cgroup.kill is
    // SIGKILLed at birth (the kill counts of its parent's cgroup and of
    // the target are compared); one kept for more children is killed pid
    // by pid.
    absl::StatusOr<int> count = KillCgroupTree(path, deadline, /*use_cgroup_kill=*/!keep_top);
    if (!count.ok()) return count.status();
    killed = *count;
    if (!WaitUntilCgroupEmpty(path, deadline)) {
      return absl::DeadlineExceededError(absl::StrCat("processes are still in cgroup ", path, " ",
                                                      absl::FormatDuration(wait),
                                                      " after SIGKILL"));
    }
    tree.clear();  // what they made before they died
    CollectTree(path, tree);
  }
  if (tree.size() > 1 || !keep_top) {  // (nothing to remove otherwise: the usual case)
    if (absl::Status removed = RemoveTree(path, tree, keep_top); !removed.ok()) return removed;
  }
  return killed;
}

}  // namespace appkit
