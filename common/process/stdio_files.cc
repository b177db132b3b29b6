#include "common/process/stdio_files.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/base/errno_status.h"
#include "common/base/safe_file.h"

namespace appkit {
namespace {

// `path` opened for appending, or for the caller's names, a dup of the
// caller's fd.
absl::StatusOr<UniqueFd> OpenStdioFile(const std::string& path, const std::string& what) {
  if (!IsCallerStdio(path)) return OpenOutputFile(path, what);
  const int fd = path == kCallerStdout ? 1 : 2;
  const int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) {
    return ErrnoStatus(
        errno, absl::StrCat(what, " ", path, ": this process's fd ", fd, " cannot be passed on"));
  }
  return UniqueFd(copy);
}

}  // namespace

bool IsCallerStdio(const std::string& name) {
  return name == kCallerStdout || name == kCallerStderr;
}

absl::Status CheckStdioFile(const std::string& path, const std::string& what) {
  return IsCallerStdio(path) ? absl::OkStatus() : CheckOutputFile(path, what);
}

absl::StatusOr<StdioFiles> OpenStdioFiles(const std::string& stdout_filename,
                                          const std::string& stderr_filename) {
  StdioFiles files;
  absl::StatusOr<UniqueFd> out = OpenStdioFile(stdout_filename, "stdout_filename");
  if (!out.ok()) return out.status();
  files.out = std::move(*out);
  if (stderr_filename != stdout_filename) {
    absl::StatusOr<UniqueFd> err = OpenStdioFile(stderr_filename, "stderr_filename");
    if (!err.ok()) return err.status();
    files.err = std::move(*err);
  }
  return files;
}

absl::Status ReopenStdio(const std::string& stdout_filename, const std::string& stderr_filename) {
  absl::Status result;
  UniqueFd shared;
  for (int fd : {1, 2}) {
    const std::string& name = fd == 1 ? stdout_filename : stderr_filename;
    // The caller's fd was passed down as it is: nothing to reopen.
    if (name.empty() || IsCallerStdio(name)) continue;
    if (fd == 2 && shared && stderr_filename == stdout_filename) {
      dup2(shared.get(), 2);
      continue;
    }
    absl::StatusOr<UniqueFd> reopened =
        OpenOutputFile(name, fd == 1 ? "stdout_filename" : "stderr_filename");
    if (!reopened.ok()) {
      if (result.ok()) {
        result = absl::Status(
            reopened.status().code(),
            absl::StrCat(reopened.status().message(), " (still writing to the old file)"));
      }
      continue;
    }
    dup2(reopened->get(), fd);
    shared = std::move(*reopened);
  }
  return result;
}

}  // namespace appkit
