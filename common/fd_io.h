// Whole-buffer reads and writes on file descriptors (retrying EINTR and
// short transfers), and the small files appkit writes atomically.
#ifndef APPKIT_COMMON_FD_IO_H_
#define APPKIT_COMMON_FD_IO_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/unique_fd.h"

namespace appkit {

// Reads until EOF.
absl::StatusOr<std::string> ReadAll(int fd);
// Reads from offset 0 to EOF with pread: the file offset, which a shared
// open file (a memfd passed to a child) has in common, is left alone.
absl::StatusOr<std::string> PreadAll(int fd);
absl::Status WriteAll(int fd, std::string_view data);

// Writes `content` to a temporary file next to `path`, then renames it
// into place: readers see the old or the new file, never a torn one.
absl::Status WriteFileAtomically(const std::string& path, std::string_view content);

// Opens `path` for appending (O_APPEND | O_CREAT, mode 0644, close-on-exec).
absl::StatusOr<UniqueFd> OpenForAppend(const std::string& path, const std::string& what);

// "" for "/a/b" -> "/a"; "." for a bare name.
std::string DirName(const std::string& path);

// OK when the directory of `path` exists and is writable; else an error
// naming `what`, the path and the directory.
absl::Status CheckParentDirWritable(const std::string& path, const std::string& what);

// An output file (stdout, stderr, log) must be writable: an existing file
// or device as it is, a new one in an existing, writable directory. Errors
// name `option` and the path.
absl::Status CheckOutputFile(const std::string& path, const std::string& option);

}  // namespace appkit

#endif  // APPKIT_COMMON_FD_IO_H_
