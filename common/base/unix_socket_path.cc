#include "common/base/unix_socket_path.h"

#include "absl/strings/str_cat.h"

namespace appkit {

absl::Status CheckUnixSocketPath(const std::string& path, const std::string& what) {
  if (path.empty()) return absl::InvalidArgumentError(what + " is empty");
  if (path.size() > kMaxUnixSocketPath) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " ", path, " is ", path.size(), " bytes long; a Unix socket path may have at most ",
        kMaxUnixSocketPath, " bytes: choose a shorter path"));
  }
  return absl::OkStatus();
}

}  // namespace appkit
