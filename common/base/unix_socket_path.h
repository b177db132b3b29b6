// The length limit of a Unix socket path, checked up front so that a long
// path is an error that names it instead of a bind() failure later.
// gRPC-free: the client library and every binary may use it.
#ifndef APPKIT_COMMON_UNIX_SOCKET_PATH_H_
#define APPKIT_COMMON_UNIX_SOCKET_PATH_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"

namespace appkit {

// The longest path a Unix socket may have (sizeof(sun_path) - 1).
constexpr size_t kMaxUnixSocketPath = 107;

// OK, or InvalidArgument naming `what`, the path and its length.
absl::Status CheckUnixSocketPath(const std::string& path, const std::string& what);

}  // namespace appkit

#endif  // APPKIT_COMMON_UNIX_SOCKET_PATH_H_
