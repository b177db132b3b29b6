// A supervised process's stdout and stderr files: opened safely
// (common/base/safe_file.h) and reopened by name on SIGHUP.
//
// When both names are the same, both fds share one open file (one file
// offset, no interleaving surprises), as a shell's `>f 2>&1` does.
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

// Errors name the option ("stdout_filename") and the path.
absl::StatusOr<StdioFiles> OpenStdioFiles(const std::string& stdout_filename,
                                          const std::string& stderr_filename);

// Reopens this process's fds 1 and 2 by name (logrotate moved the files).
// A file that cannot be opened again (a symlink or FIFO planted at its
// name, a full fd table) is kept; the error names it. Never blocks.
absl::Status ReopenStdio(const std::string& stdout_filename, const std::string& stderr_filename);

}  // namespace appkit

#endif  // APPKIT_COMMON_STDIO_FILES_H_
