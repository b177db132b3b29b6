#include "common/base/fd_limit.h"

#include <dirent.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace appkit {
namespace {

constexpr rlim_t kPoolOwnFds = 12;
constexpr rlim_t kFdsPerWorker = 2;

std::string Shown(rlim_t limit) {
  return limit == RLIM_INFINITY ? std::string("unlimited") : absl::StrCat(limit);
}

size_t OpenFdCount() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  size_t count = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count > 0 ? count - 1 : 0;  // not the directory's own fd
}

}  // namespace

absl::Status CheckFdLimit(rlim_t needed, const std::string& what) {
  rlimit limit = {};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return absl::OkStatus();
  if (limit.rlim_max >= needed) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "RLIMIT_NOFILE is ", Shown(limit.rlim_cur), " (hard limit ", Shown(limit.rlim_max),
      "); appkit needs at least ", needed, " open files for ", what,
      ": raise the limit (ulimit -n ", needed, ", or LimitNOFILE= under systemd)"));
}

rlim_t PoolFdsNeeded(size_t workers) {
  return static_cast<rlim_t>(OpenFdCount()) + kPoolOwnFds + kFdsPerWorker * workers;
}

rlim_t RaiseFdSoftLimit() {
  rlimit limit = {};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  const rlim_t before = limit.rlim_cur;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  return before;
}

void RestoreFdSoftLimit(rlim_t soft) {
  rlimit limit = {};
  if (soft == 0 || getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  limit.rlim_cur = std::min(soft, limit.rlim_max);
  setrlimit(RLIMIT_NOFILE, &limit);
}

rlim_t FdSoftLimit() {
  rlimit limit = {};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  return limit.rlim_cur;
}

}  // namespace appkit
