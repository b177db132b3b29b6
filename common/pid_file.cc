#include "common/pid_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/errno_status.h"

namespace appkit {
namespace {

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// The pid of the process holding a POSIX lock on `fd`, or 0.
pid_t LockHolder(int fd) {
  struct flock query = {};
  query.l_type = F_WRLCK;
  query.l_whence = SEEK_SET;
  if (fcntl(fd, F_GETLK, &query) != 0 || query.l_type == F_UNLCK) return 0;
  return query.l_pid;
}

bool LockWhole(int fd) {
  struct flock lock = {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  return fcntl(fd, F_SETLK, &lock) == 0;
}

std::optional<pid_t> ReadPid(int fd) {
  char buf[32];
  ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return std::nullopt;
  buf[n] = '\0';
  int pid;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(buf), &pid) || pid <= 0) return std::nullopt;
  return pid;
}

bool SameFile(int fd, const std::string& path) {
  struct stat by_fd, by_path;
  return fstat(fd, &by_fd) == 0 && stat(path.c_str(), &by_path) == 0 &&
         by_fd.st_dev == by_path.st_dev && by_fd.st_ino == by_path.st_ino;
}

// A new, locked, unnamed file holding "<pid>\n" in the pid file's
// directory, ready to be linked into place.
absl::StatusOr<UniqueFd> MakeLockedCandidate(const std::string& path, pid_t pid) {
  const std::string dir = DirOf(path);
  UniqueFd fd(open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0644));
  if (!fd) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return ErrnoStatus(errno, absl::StrCat("pid file directory ", dir, " of ", path));
    }
    return ErrnoStatus(errno, absl::StrCat("cannot create pid file ", path, " in ", dir));
  }
  // O_TMPFILE honours the umask; a pid file is world-readable.
  fchmod(fd.get(), 0644);
  std::string content = absl::StrCat(pid, "\n");
  if (write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
    return ErrnoStatus(errno, "cannot write pid file " + path);
  }
  if (!LockWhole(fd.get())) return ErrnoStatus(errno, "cannot lock pid file " + path);
  flock(fd.get(), LOCK_EX | LOCK_NB);
  return fd;
}

}  // namespace

absl::StatusOr<PidFile::AcquireResult> PidFile::Acquire(const std::string& path, pid_t pid) {
  if (path.empty()) return absl::InvalidArgumentError("pid_filename is empty");
  auto candidate = MakeLockedCandidate(path, pid);
  if (!candidate.ok()) return candidate.status();
  const std::string proc_path = absl::StrCat("/proc/self/fd/", candidate->get());

  // Bounded: every turn of this loop follows a state change by another
  // starter, which finishes within microseconds.
  for (int attempt = 0; attempt < 10000; ++attempt) {
    if (linkat(AT_FDCWD, proc_path.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) == 0) {
      AcquireResult result;
      result.file.reset(new PidFile(path, std::move(*candidate)));
      return result;
    }
    if (errno != EEXIST) return ErrnoStatus(errno, "cannot create pid file " + path);

    UniqueFd existing(open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
    if (!existing) {
      if (errno == ENOENT) continue;  // removed meanwhile: try again
      if (errno == EISDIR) {
        return absl::InvalidArgumentError(absl::StrCat("pid file path ", path, " is a directory"));
      }
      return ErrnoStatus(errno, "cannot open existing pid file " + path);
    }
    struct stat st;
    if (fstat(existing.get(), &st) == 0 && !S_ISREG(st.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat("pid file path ", path, " exists and is not a regular file"));
    }
    if (pid_t holder = LockHolder(existing.get()); holder != 0) {
      // A published pid file holds its owner's pid from birth. A holder
      // whose pid differs is another starter busy replacing a stale file:
      // wait for it to publish its own.
      if (ReadPid(existing.get()) == holder && SameFile(existing.get(), path)) {
        AcquireResult result;
        result.running_pid = holder;
        return result;
      }
      sched_yield();
      continue;
    }
    if (!LockWhole(existing.get())) {
      sched_yield();
      continue;  // another starter took it first
    }
    if (!SameFile(existing.get(), path)) continue;
    // Stale: its owner is gone (or it never held a valid pid). Remove it
    // while holding its lock, then race again to link ours.
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, "cannot remove stale pid file " + path);
    }
  }
  return absl::DeadlineExceededError("gave up acquiring pid file " + path + " after 10000 races");
}

std::optional<pid_t> PidFile::Owner(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return std::nullopt;
  pid_t holder = LockHolder(fd.get());
  if (holder == 0) return std::nullopt;
  return holder;
}

bool PidFile::RemoveIfStale(const std::string& path, pid_t dead_pid,
                            const std::function<void()>& while_locked) {
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
  if (!fd || !LockWhole(fd.get())) return false;
  if (ReadPid(fd.get()) != dead_pid || !SameFile(fd.get(), path)) return false;
  if (while_locked) while_locked();
  return unlink(path.c_str()) == 0;
}

PidFile::~PidFile() {
  if (SameFile(fd_.get(), path_)) unlink(path_.c_str());
}

}  // namespace appkit
