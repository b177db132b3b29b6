#include "common/orphan_cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "absl/time/clock.h"
#include "common/pid_file.h"
#include "common/pidfd.h"

namespace appkit {
namespace {

// The start time of `pid` (clock ticks since boot), 0 if it is gone.
unsigned long long StartTime(pid_t pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  const char* p = strrchr(buf, ')');  // the command may hold spaces
  if (p == nullptr) return 0;
  // Fields after ")": 3 state ... 22 starttime.
  unsigned long long value = 0;
  int field = 2;
  for (const char* c = p + 1; *c != '\0'; ++c) {
    if (*c == ' ') {
      ++field;
      if (field == 22) {
        value = strtoull(c + 1, nullptr, 10);
        break;
      }
    }
  }
  return value;
}

// Whether the process group `pid` can only be the one `child` led.
bool GroupIsStillTheChilds(pid_t pid, unsigned long long start_time) {
  if (kill(pid, 0) != 0) return errno == ESRCH;            // nobody holds the pid
  return start_time != 0 && StartTime(pid) == start_time;  // the child or its zombie
}

}  // namespace

void OrphanCleanup::Track(pid_t pid, const std::string& pid_file) {
  Child child;
  child.pid = pid;
  child.pidfd = OpenPidfd(pid);
  child.start_time = StartTime(pid);
  // One entry per pid file (a restart replaces the last run's), and one
  // for all children without one (the executor: one at a time).
  children_[pid_file.empty() ? std::string(kNoPidFile) : pid_file] = std::move(child);
  // Now and then (amortised O(1)), forget children that are gone with
  // their whole group: nothing is left to clean up after them.
  if (children_.size() >= prune_at_) {
    for (auto it = children_.begin(); it != children_.end();) {
      const bool exited = !it->second.pidfd || HasExited(it->second.pidfd.get());
      if (exited && kill(-it->second.pid, 0) != 0 && errno == ESRCH) {
        if (it->first != kNoPidFile) PidFile::RemoveIfStale(it->first, it->second.pid);
        it = children_.erase(it);
      } else {
        ++it;
      }
    }
    prune_at_ = std::max<size_t>(64, 2 * children_.size());
  }
}

void OrphanCleanup::Cleanup(absl::Duration wait) {
  for (auto& [key, child] : children_) {
    // The group only: a child that has not made its group yet has no
    // children either, and dies of its parent-death signal.
    if (GroupIsStillTheChilds(child.pid, child.start_time)) kill(-child.pid, SIGKILL);
  }
  const absl::Time deadline = absl::Now() + wait;
  for (auto& [key, child] : children_) {
    if (child.pidfd) WaitForExit(child.pidfd.get(), deadline);
  }
  for (auto& [key, child] : children_) {
    if (key != kNoPidFile) PidFile::RemoveIfStale(key, child.pid);
  }
}

}  // namespace appkit
