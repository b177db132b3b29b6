#include "common/base/errno_status.h"

#include <string.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace appkit {

absl::Status ErrnoStatus(int err, std::string_view what) {
  std::string message =
      absl::StrCat(absl::string_view(what.data(), what.size()), ": ", strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ESRCH:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(message);
    case EEXIST:
      return absl::AlreadyExistsError(message);
    case EINVAL:
    case ENAMETOOLONG:
    case EISDIR:
      return absl::InvalidArgumentError(message);
    case EAGAIN:
    case EINTR:
    case ECONNREFUSED:
      return absl::UnavailableError(message);
    default:
      return absl::InternalError(message);
  }
}

}  // namespace appkit
