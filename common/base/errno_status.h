// errno -> absl::Status with a message a person can act on.
//
//   if (open(path, ...) < 0) return ErrnoStatus(errno, "cannot open pid file " + path);
//   // -> "cannot open pid file /x/y.pid: No such file or directory"
#ifndef APPKIT_COMMON_ERRNO_STATUS_H_
#define APPKIT_COMMON_ERRNO_STATUS_H_

#include <string_view>

#include "absl/status/status.h"

namespace appkit {

// The code follows the errno (ENOENT: NotFound, EACCES: PermissionDenied,
// EEXIST: AlreadyExists, EINVAL: InvalidArgument, ...); the message is
// "<what>: <strerror(err)>".
absl::Status ErrnoStatus(int err, std::string_view what);

}  // namespace appkit

#endif  // APPKIT_COMMON_ERRNO_STATUS_H_
