// Early-return helpers for absl::Status / absl::StatusOr (Debian's abseil
// 20220623 predates ABSL_RETURN_IF_ERROR).
//
//   APPKIT_RETURN_IF_ERROR(WriteAll(fd, data));
//   APPKIT_ASSIGN_OR_RETURN(UniqueFd fd, OpenForAppend(path));
#ifndef APPKIT_COMMON_STATUS_MACROS_H_
#define APPKIT_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define APPKIT_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::absl::Status appkit_status_ = (expr);          \
    if (!appkit_status_.ok()) return appkit_status_; \
  } while (0)

#define APPKIT_STATUS_CONCAT_INNER_(a, b) a##b
#define APPKIT_STATUS_CONCAT_(a, b) APPKIT_STATUS_CONCAT_INNER_(a, b)

#define APPKIT_ASSIGN_OR_RETURN(lhs, expr) \
  APPKIT_ASSIGN_OR_RETURN_IMPL_(APPKIT_STATUS_CONCAT_(appkit_or_, __LINE__), lhs, expr)

#define APPKIT_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(*tmp)

#endif  // APPKIT_COMMON_STATUS_MACROS_H_
