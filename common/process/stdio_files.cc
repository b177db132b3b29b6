#include "common/process/stdio_files.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/base/safe_file.h"

namespace appkit {

absl::StatusOr<StdioFiles> OpenStdioFiles(const std::string& stdout_filename,
                                          const std::string& stderr_filename) {
  StdioFiles files;
  absl::StatusOr<UniqueFd> out = OpenOutputFile(stdout_filename, "stdout_filename");
  if (!out.ok()) return out.status();
  files.out = std::move(*out);
  if (stderr_filename != stdout_filename) {
    absl::StatusOr<UniqueFd> err = OpenOutputFile(stderr_filename, "stderr_filename");
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
    if (name.empty()) continue;
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
