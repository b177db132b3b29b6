#include "common/process/pid_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/base/errno_status.h"
#include "common/base/safe_file.h"

namespace appkit {
namespace {

// Every turn of Acquire's loop follows a state change by another starter
// (which finishes within microseconds), so this bound is never reached
// unless something else holds the file.
constexpr int kMaxRaces = 10000;

// The pid of the process holding a POSIX lock on `fd`; 0 when unlocked;
// -1 for an open file description lock (F_OFD_SETLK), whose holder the
// kernel does not name.
pid_t LockHolder(int fd) {
  struct flock query = {};
  query.l_type = F_WRLCK;
  query.l_whence = SEEK_SET;
  if (fcntl(fd, F_GETLK, &query) != 0 || query.l_type == F_UNLCK) return 0;
  return query.l_pid == 0 ? -1 : query.l_pid;
}

bool LockWhole(int fd, PidFile::LockKind kind = PidFile::LockKind::kProcess) {
  struct flock lock = {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  return fcntl(fd, kind == PidFile::LockKind::kOpenFile ? F_OFD_SETLK : F_SETLK, &lock) == 0;
}

// The pid the file names; never one below 2 (0, 1 and negative pids
// mean "everything" or init to kill(2)).
std::optional<pid_t> ReadPid(int fd) {
  char buf[32];
  ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return std::nullopt;
  buf[n] = '\0';
  int pid;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(buf), &pid) || pid < 2) return std::nullopt;
  return pid;
}

bool SameFile(int fd, const std::string& path) {
  struct stat by_fd, by_path;
  return fstat(fd, &by_fd) == 0 && lstat(path.c_str(), &by_path) == 0 &&
         by_fd.st_dev == by_path.st_dev && by_fd.st_ino == by_path.st_ino;
}

// The base name of the binary `pid` runs, or why it cannot be told.
absl::StatusOr<std::string> ExeName(pid_t pid) {
  char exe[PATH_MAX];
  const std::string link = absl::StrCat("/proc/", pid, "/exe");
  ssize_t n = readlink(link.c_str(), exe, sizeof(exe) - 1);
  if (n <= 0) return ErrnoStatus(errno, "cannot read " + link);
  absl::string_view name(exe, n);
  absl::ConsumeSuffix(&name, " (deleted)");  // rebuilt or reinstalled since it started
  return std::string(name.substr(name.rfind('/') + 1));
}

// The values on the `key` line of /proc/<pid>/status ("Uid:" gives the
// real, effective, saved and filesystem uids); empty when there is none.
std::vector<std::string> ProcStatusValues(pid_t pid, absl::string_view key) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, key)) return absl::StrSplit(rest, '\t', absl::SkipEmpty());
  }
  return {};
}

// The effective uid of `pid`.
std::optional<uid_t> EffectiveUid(pid_t pid) {
  std::vector<std::string> uids = ProcStatusValues(pid, "Uid:");
  unsigned uid;
  if (uids.size() >= 2 && absl::SimpleAtoi(uids[1], &uid)) return uid;
  return std::nullopt;
}

// The pid `pid` has in the innermost PID namespace it belongs to (the last
// NSpid value: `pid` itself unless it runs in a child namespace, such as a
// container's), or nullopt.
std::optional<pid_t> InnermostPid(pid_t pid) {
  std::vector<std::string> pids = ProcStatusValues(pid, "NSpid:");
  int inner;
  if (!pids.empty() && absl::SimpleAtoi(pids.back(), &inner)) return inner;
  return std::nullopt;
}

// Whether the pid file's content `named` is `holder` (LockHolder's pid, as
// this process sees it): the same number, or the number the holder has in
// its own PID namespace (a daemon run as PID 1's child in a container
// writes the pid it sees; a reader outside sees another).
bool NamesHolder(std::optional<pid_t> named, pid_t holder) {
  if (!named) return false;
  return *named == holder || (holder >= 2 && InnermostPid(holder) == *named);
}

// "" when `holder` (from LockHolder) is a live `holder_exe` process that
// this file names and that owns it; else what is wrong, in words.
std::string WhyNotOurHolder(int fd, pid_t holder, const std::string& holder_exe) {
  if (holder < 2) {
    return "it is locked with an open file description lock, whose holder the kernel does "
           "not name (the program of a command worker appkit runs, or not appkit's)";
  }
  std::optional<pid_t> named = ReadPid(fd);
  if (!NamesHolder(named, holder)) {
    return absl::StrCat("it is locked by process ", holder, " but names ",
                        named ? absl::StrCat("process ", *named) : std::string("no valid pid"));
  }
  absl::StatusOr<std::string> exe = ExeName(holder);
  if (!exe.ok()) {
    return absl::StrCat("its holder, process ", holder, ", cannot be identified (",
                        exe.status().message(), ")");
  }
  if (*exe != holder_exe) {
    return absl::StrCat("its holder, process ", holder, ", runs ", *exe, ", not the appkit ",
                        holder_exe);
  }
  struct stat st;
  std::optional<uid_t> uid = EffectiveUid(holder);
  if (fstat(fd, &st) != 0 || uid != st.st_uid) {
    return absl::StrCat("its holder, process ", holder, ", does not run as the file's owner (uid ",
                        st.st_uid, ")");
  }
  return "";
}

// A holder that names another pid may be a starter replacing a stale
// file (it locks the old file, then unlinks it): that lasts microseconds.
bool MayBeReplacing(int fd, pid_t holder) {
  return holder >= 2 && !NamesHolder(ReadPid(fd), holder);
}

// A new, locked, unnamed file holding "<pid>\n" in the pid file's
// directory, ready to be linked into place.
absl::StatusOr<UniqueFd> MakeLockedCandidate(const std::string& path, pid_t pid,
                                             PidFile::LockKind kind) {
  const std::string dir = DirName(path);
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
  if (!LockWhole(fd.get(), kind)) return ErrnoStatus(errno, "cannot lock pid file " + path);
  flock(fd.get(), LOCK_EX | LOCK_NB);
  return fd;
}

absl::Status HeldBySomethingElse(const std::string& path, const std::string& why) {
  return absl::FailedPreconditionError(
      absl::StrCat("pid file ", path, " is held by something else: ", why));
}

}  // namespace

absl::StatusOr<PidFile::Holder> PidFile::Inspect(const std::string& path,
                                                 const std::string& holder_exe) {
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<UniqueFd> fd = OpenFileForReading(path, "pid file");
    if (!fd.ok()) {
      if (absl::IsNotFound(fd.status())) return Holder{};
      return fd.status();
    }
    const pid_t holder = LockHolder(fd->get());
    if (holder == 0) return Holder{};  // stale (or garbage): nobody holds it
    if (MayBeReplacing(fd->get(), holder) && attempt < kMaxRaces) {
      sched_yield();
      continue;
    }
    const std::string why = WhyNotOurHolder(fd->get(), holder, holder_exe);
    if (why.empty()) return Holder{Holder::State::kRunning, holder, ""};
    return Holder{Holder::State::kForeign, 0, why};
  }
}

bool PidFile::StillHeldBy(const std::string& path, pid_t pid, const std::string& holder_exe) {
  absl::StatusOr<Holder> holder = Inspect(path, holder_exe);
  return holder.ok() && holder->state == Holder::State::kRunning && holder->pid == pid;
}

absl::StatusOr<PidFile::AcquireResult> PidFile::Acquire(const std::string& path, pid_t pid,
                                                        const std::string& holder_exe,
                                                        LockKind kind) {
  if (path.empty()) return absl::InvalidArgumentError("pid_filename is empty");
  if (absl::Status trusted = CheckTrustedDirectory(DirName(path), "pid file " + path);
      !trusted.ok()) {
    return trusted;
  }
  auto candidate = MakeLockedCandidate(path, pid, kind);
  if (!candidate.ok()) return candidate.status();
  const std::string proc_path = absl::StrCat("/proc/self/fd/", candidate->get());

  std::string why;
  for (int attempt = 0; attempt < kMaxRaces; ++attempt) {
    if (linkat(AT_FDCWD, proc_path.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) == 0) {
      AcquireResult result;
      result.file.reset(new PidFile(path, std::move(*candidate)));
      return result;
    }
    if (errno != EEXIST) return ErrnoStatus(errno, "cannot create pid file " + path);

    UniqueFd existing(open(path.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (!existing) {
      if (errno == ENOENT) continue;  // removed meanwhile: try again
      if (errno == EISDIR) {
        return absl::InvalidArgumentError(absl::StrCat("pid file path ", path, " is a directory"));
      }
      if (errno == ELOOP) {
        return absl::PermissionDeniedError(
            absl::StrCat("pid file ", path, " is a symbolic link: refused"));
      }
      return ErrnoStatus(errno, "cannot open existing pid file " + path);
    }
    struct stat st;
    if (fstat(existing.get(), &st) != 0) return ErrnoStatus(errno, "fstat pid file " + path);
    if (!S_ISREG(st.st_mode)) {
      return absl::PermissionDeniedError(absl::StrCat("pid file path ", path,
                                                      " exists and is not a regular file (it is ",
                                                      FileTypeName(st.st_mode), "): refused"));
    }
    if (st.st_uid != 0 && st.st_uid != geteuid()) {
      return absl::PermissionDeniedError(
          absl::StrCat("pid file ", path, " belongs to uid ", st.st_uid, ", not to uid ", geteuid(),
                       " or root: refused (remove it if it is garbage)"));
    }
    if (pid_t holder = LockHolder(existing.get()); holder != 0) {
      if (MayBeReplacing(existing.get(), holder)) {
        sched_yield();  // another starter is replacing a stale file
        why = WhyNotOurHolder(existing.get(), holder, holder_exe);
        continue;
      }
      why = WhyNotOurHolder(existing.get(), holder, holder_exe);
      if (!why.empty()) return HeldBySomethingElse(path, why);
      if (SameFile(existing.get(), path)) {
        AcquireResult result;
        result.running_pid = holder;
        return result;
      }
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
  if (!why.empty()) return HeldBySomethingElse(path, why);
  return absl::DeadlineExceededError(
      absl::StrCat("gave up acquiring pid file ", path, " after ", kMaxRaces, " races"));
}

bool PidFile::RemoveIfStale(const std::string& path, pid_t dead_pid,
                            const std::function<void()>& while_locked) {
  UniqueFd fd(open(path.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  struct stat st;
  if (!fd || fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || !LockWhole(fd.get())) {
    return false;
  }
  if (ReadPid(fd.get()) != dead_pid || !SameFile(fd.get(), path)) return false;
  if (while_locked) while_locked();
  return unlink(path.c_str()) == 0;
}

PidFile::~PidFile() {
  if (SameFile(fd_.get(), path_)) unlink(path_.c_str());
}

}  // namespace appkit
