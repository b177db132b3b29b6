#include "common/base/safe_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <deque>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/base/errno_status.h"
#include "common/base/fd_io.h"

namespace appkit {
namespace {

constexpr int kMaxSymlinks = 40;  // as the kernel's own path walk

std::string Join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

bool OwnedByUsOrRoot(const struct stat& st) { return st.st_uid == 0 || st.st_uid == geteuid(); }

// A directory only we or root can change.
absl::Status CheckDirectoryOwner(const std::string& dir, const struct stat& st,
                                 const std::string& what) {
  if (!OwnedByUsOrRoot(st)) {
    return absl::PermissionDeniedError(
        absl::StrCat("directory ", dir, " (for ", what, ") is owned by uid ", st.st_uid,
                     ", not by uid ", geteuid(),
                     " or root: its owner could replace the files in it; use a directory of "
                     "your own"));
  }
  if ((st.st_mode & S_ISVTX) == 0) {
    if (st.st_mode & S_IWOTH) {
      return absl::PermissionDeniedError(
          absl::StrCat("directory ", dir, " (for ", what,
                       ") is writable by everyone and has no sticky "
                       "bit: anybody could replace the files in it; chmod o-w or +t it"));
    }
    if ((st.st_mode & S_IWGRP) && st.st_gid != getegid()) {
      return absl::PermissionDeniedError(absl::StrCat(
          "directory ", dir, " (for ", what, ") is writable by group ", st.st_gid,
          " and has no sticky bit: members of that group could replace the files in it; "
          "chmod g-w it"));
    }
  }
  return absl::OkStatus();
}

absl::Status Refused(const std::string& path, const std::string& what, const std::string& why) {
  return absl::PermissionDeniedError(absl::StrCat(what, " ", path, " ", why, ": refused"));
}

// What OpenOutputFile accepts at `path` (lstat or fstat of it).
absl::Status CheckOutputTarget(const std::string& path, const std::string& what,
                               const struct stat& st) {
  if (S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " ", path, " is a directory"));
  }
  if (S_ISCHR(st.st_mode)) return absl::OkStatus();  // the very path given: /dev/null
  if (!S_ISREG(st.st_mode)) return Refused(path, what, "is " + FileTypeName(st.st_mode));
  if (!OwnedByUsOrRoot(st)) {
    return Refused(
        path, what,
        absl::StrCat("is owned by uid ", st.st_uid, ", not by uid ", geteuid(), " or root"));
  }
  if (st.st_nlink > 1) {
    return Refused(path, what,
                   absl::StrCat("has ", st.st_nlink,
                                " hard links (another name may point at "
                                "a file that is not ours)"));
  }
  return absl::OkStatus();
}

absl::Status OpenError(int err, const std::string& path, const std::string& what) {
  struct stat st;
  switch (err) {
    case ELOOP:
      return Refused(path, what, "is a symbolic link");
    case ENXIO:  // a FIFO without a reader, or a socket
      if (lstat(path.c_str(), &st) == 0)
        return Refused(path, what, "is " + FileTypeName(st.st_mode));
      return Refused(path, what, "is a FIFO or a socket");
    case EISDIR:
      return absl::InvalidArgumentError(absl::StrCat(what, " ", path, " is a directory"));
    default:
      return ErrnoStatus(err, absl::StrCat("cannot open ", what, " ", path));
  }
}

}  // namespace

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string FileTypeName(unsigned mode) {
  switch (mode & S_IFMT) {
    case S_IFLNK:
      return "a symbolic link";
    case S_IFIFO:
      return "a FIFO";
    case S_IFSOCK:
      return "a socket";
    case S_IFBLK:
      return "a block device";
    case S_IFCHR:
      return "a character device";
    case S_IFDIR:
      return "a directory";
    case S_IFREG:
      return "a regular file";
    default:
      return "a special file";
  }
}

absl::Status CheckTrustedDirectory(const std::string& dir, const std::string& what) {
  std::string path = dir.empty() ? "." : dir;
  if (path[0] != '/') {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof(cwd)) == nullptr) return ErrnoStatus(errno, "getcwd");
    path = absl::StrCat(cwd, "/", path);
  }
  std::deque<std::string> todo;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    todo.emplace_back(part);
  }
  struct stat st;
  if (stat("/", &st) != 0) return ErrnoStatus(errno, "stat /");
  if (absl::Status root = CheckDirectoryOwner("/", st, what); !root.ok()) return root;

  std::string current = "/";  // resolved and trusted so far
  int symlinks = 0;
  while (!todo.empty()) {
    const std::string part = todo.front();
    todo.pop_front();
    if (part == ".") continue;
    if (part == "..") {
      current = DirName(current);
      continue;
    }
    const std::string next = Join(current, part);
    if (lstat(next.c_str(), &st) != 0) {
      if (errno == ENOENT) {
        return absl::NotFoundError(
            absl::StrCat("directory ", next, " (for ", what, ") does not exist"));
      }
      return ErrnoStatus(errno, absl::StrCat("directory ", next, " (for ", what, ")"));
    }
    if (S_ISLNK(st.st_mode)) {
      // Only a link we or root made: one in a shared directory that
      // somebody else owns could point anywhere.
      if (!OwnedByUsOrRoot(st)) {
        return absl::PermissionDeniedError(
            absl::StrCat(next, " (on the way to ", what, ") is a symbolic link owned by uid ",
                         st.st_uid, ", not by uid ", geteuid(), " or root: refused"));
      }
      if (++symlinks > kMaxSymlinks) {
        return absl::InvalidArgumentError(
            absl::StrCat("too many symbolic links on the way to ", what, " at ", next));
      }
      char target[PATH_MAX];
      ssize_t n = readlink(next.c_str(), target, sizeof(target) - 1);
      if (n <= 0) return ErrnoStatus(errno, "readlink " + next);
      target[n] = '\0';
      std::vector<std::string> parts =
          absl::StrSplit(absl::string_view(target, n), '/', absl::SkipEmpty());
      todo.insert(todo.begin(), parts.begin(), parts.end());
      if (target[0] == '/') current = "/";
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat(next, " (on the way to ", what, ") is not a directory"));
    }
    if (absl::Status owner = CheckDirectoryOwner(next, st, what); !owner.ok()) return owner;
    current = next;
  }
  return absl::OkStatus();
}

absl::Status CheckOutputFile(const std::string& path, const std::string& what) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  const std::string dir = DirName(path);
  const std::string for_what = absl::StrCat(what, " ", path);
  if (absl::Status trusted = CheckTrustedDirectory(dir, for_what); !trusted.ok()) return trusted;
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return ErrnoStatus(errno, absl::StrCat("cannot check ", for_what));
    if (access(dir.c_str(), W_OK | X_OK) != 0) {
      return ErrnoStatus(errno,
                         absl::StrCat("directory ", dir, " of ", for_what, " is not writable"));
    }
    return absl::OkStatus();
  }
  if (S_ISLNK(st.st_mode)) return Refused(path, what, "is a symbolic link");
  if (absl::Status target = CheckOutputTarget(path, what, st); !target.ok()) return target;
  if (access(path.c_str(), W_OK) != 0) {
    return ErrnoStatus(errno, absl::StrCat(for_what, " is not writable"));
  }
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> OpenOutputFile(const std::string& path, const std::string& what) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  if (absl::Status trusted = CheckTrustedDirectory(DirName(path), absl::StrCat(what, " ", path));
      !trusted.ok()) {
    return trusted;
  }
  UniqueFd fd(open(path.c_str(),
                   O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
                   0644));
  if (!fd) return OpenError(errno, path, what);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("fstat ", what, " ", path));
  if (absl::Status target = CheckOutputTarget(path, what, st); !target.ok()) return target;
  // Only the open had to be non-blocking; a terminal given as stdout
  // should block like any terminal.
  fcntl(fd.get(), F_SETFL, fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
  return fd;
}

absl::StatusOr<UniqueFd> OpenFileForReading(const std::string& path, const std::string& what) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT)
      return absl::NotFoundError(absl::StrCat(what, " ", path, " does not exist"));
    return OpenError(errno, path, what);
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("fstat ", what, " ", path));
  if (!S_ISREG(st.st_mode)) return Refused(path, what, "is " + FileTypeName(st.st_mode));
  return fd;
}

absl::Status WriteFileAtomically(const std::string& path, std::string_view content,
                                 const std::string& what) {
  const std::string dir = DirName(path);
  if (absl::Status trusted = CheckTrustedDirectory(dir, absl::StrCat(what, " ", path));
      !trusted.ok()) {
    return trusted;
  }
  struct stat st;
  if (lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    return Refused(path, what, "is " + FileTypeName(st.st_mode));
  }
  const size_t slash = path.rfind('/');
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  // O_EXCL under a random name: nothing planted can be opened instead.
  std::string tmp = absl::StrCat(dir, "/.", base, ".tmp-XXXXXX");
  UniqueFd fd(mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd) {
    return ErrnoStatus(
        errno, absl::StrCat("cannot write ", what, " ", path, " (temporary file in ", dir, ")"));
  }
  fchmod(fd.get(), 0644);
  absl::Status written = WriteAll(fd.get(), content);
  fd.reset();
  if (!written.ok()) {
    unlink(tmp.c_str());
    return absl::Status(written.code(),
                        absl::StrCat("cannot write ", what, " ", path, ": ", written.message()));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    absl::Status status =
        ErrnoStatus(errno, absl::StrCat("cannot rename ", tmp, " to ", what, " ", path));
    unlink(tmp.c_str());
    return status;
  }
  return absl::OkStatus();
}

}  // namespace appkit
