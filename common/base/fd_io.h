// Whole-buffer reads and writes on file descriptors (retrying EINTR and
// short transfers). Opening files safely is common/base/safe_file.h.
#ifndef APPKIT_COMMON_FD_IO_H_
#define APPKIT_COMMON_FD_IO_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace appkit {

// Reads until EOF.
absl::StatusOr<std::string> ReadAll(int fd);
// Reads from offset 0 to EOF with pread: the file offset, which a shared
// open file (a memfd passed to a child) has in common, is left alone.
absl::StatusOr<std::string> PreadAll(int fd);
absl::Status WriteAll(int fd, std::string_view data);

}  // namespace appkit

#endif  // APPKIT_COMMON_FD_IO_H_
