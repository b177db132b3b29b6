#include "common/fd_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"

namespace appkit {

absl::StatusOr<std::string> ReadAll(int fd) {
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n == 0) return data;
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read");
    }
    data.append(buf, n);
  }
}

absl::StatusOr<std::string> PreadAll(int fd) {
  std::string data;
  char chunk[65536];
  for (off_t offset = 0;;) {
    ssize_t n = pread(fd, chunk, sizeof(chunk), offset);
    if (n == 0) return data;
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "pread");
    }
    data.append(chunk, n);
    offset += n;
  }
}

absl::Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "write");
    }
    data.remove_prefix(n);
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path, std::string_view content) {
  std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return ErrnoStatus(errno, "cannot write " + tmp);
  absl::Status written = WriteAll(fd.get(), content);
  fd.reset();
  if (!written.ok() || rename(tmp.c_str(), path.c_str()) != 0) {
    absl::Status status = written.ok() ? ErrnoStatus(errno, "cannot rename " + tmp + " to " + path)
                                       : written;
    unlink(tmp.c_str());
    return status;
  }
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> OpenForAppend(const std::string& path, const std::string& what) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("cannot open ", what, " ", path));
  return fd;
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status CheckParentDirWritable(const std::string& path, const std::string& what) {
  if (path.empty()) return absl::InvalidArgumentError(what + " is empty");
  std::string dir = DirName(path);
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    return ErrnoStatus(errno, absl::StrCat("directory ", dir, " of ", what, " ", path));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, " (the directory of ", what, " ", path, ") is not a directory"));
  }
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    return ErrnoStatus(errno, absl::StrCat("directory ", dir, " of ", what, " ", path,
                                           " is not writable"));
  }
  return absl::OkStatus();
}

absl::Status CheckOutputFile(const std::string& path, const std::string& option) {
  if (path.empty()) return absl::InvalidArgumentError(option + " is empty");
  if (access(path.c_str(), F_OK) == 0) {
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      return absl::InvalidArgumentError(absl::StrCat(option, " ", path, " is a directory"));
    }
    if (access(path.c_str(), W_OK) != 0) {
      return ErrnoStatus(errno, absl::StrCat(option, " ", path, " is not writable"));
    }
    return absl::OkStatus();
  }
  return CheckParentDirWritable(path, option);
}

}  // namespace appkit
