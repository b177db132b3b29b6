// A supervised process's stdout and stderr files: opened safely
// (common/base/safe_file.h) and reopened by name on SIGHUP.
//
// When both names are the same, both fds share one open file (one file
// offset, no interleaving surprises), as a shell's `>f 2>&1` does.
//
// "/dev/stdout" and "/dev/stderr", exactly as written, name no file: they
// are the caller's own fd 1 or fd 2, passed down as the open file it is
// (a dup, never a reopen by path: it works for pipes, terminals and
// sockets alike, where opening /proc/self/fd/1 fails with ENXIO). A
// container's main process writes there for the container's log, a
// systemd service for the journal. For a worker the caller is the pool
// (the executor), whose fds 1 and 2 are the daemon's. Any other spelling
// ("/dev//stdout", "/proc/self/fd/1") is a path like any other, and the
// symlink it is gets refused by the file-safety rules. SIGHUP keeps such
// an fd as it is (there is no file to reopen).
#ifndef APPKIT_COMMON_STDIO_FILES_H_
#define APPKIT_COMMON_STDIO_FILES_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/base/unique_fd.h"

namespace appkit {

struct StdioFiles {
  UniqueFd out;
  UniqueFd err;  // empty when stderr is the same file as stdout
  int err_fd() const { return err ? err.get() : out.get(); }
};

inline constexpr char kCallerStdout[] = "/dev/stdout";
inline constexpr char kCallerStderr[] = "/dev/stderr";

// Whether `name` is exactly kCallerStdout or kCallerStderr.
bool IsCallerStdio(const std::string& name);

// CheckOutputFile (common/base/safe_file.h), except for the two names
// above, which need no file (whose fd they are is checked when opened).
absl::Status CheckStdioFile(const std::string& path, const std::string& what);

// Errors name the option ("stdout_filename") and the path; for the names
// above, the fd this process does not have open.
absl::StatusOr<StdioFiles> OpenStdioFiles(const std::string& stdout_filename,
                                          const std::string& stderr_filename);

// Reopens this process's fds 1 and 2 by name (logrotate moved the files).
// A file that cannot be opened again (a symlink or FIFO planted at its
// name, a full fd table) is kept; the error names it. Never blocks.
absl::Status ReopenStdio(const std::string& stdout_filename, const std::string& stderr_filename);

}  // namespace appkit

#endif  // APPKIT_COMMON_STDIO_FILES_H_
