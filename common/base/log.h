// Log(): the logger appkit's own code writes its lifecycle lines to.
//
// ConfigureLogging (common/runtime/logging.h) sets it up over the same handlers as
// spdlog's default logger (the one user code logs to), with repeated
// identical lines collapsed ("Skipped N duplicate messages"), so a
// condition that repeats cannot fill a disk. Until then it is spdlog's
// default logger. Thread-safe; the returned logger lives for good.
#ifndef APPKIT_COMMON_LOG_H_
#define APPKIT_COMMON_LOG_H_

#include <memory>

#include "spdlog/logger.h"

namespace appkit {

spdlog::logger& Log();

namespace internal {
// Makes `logger` what Log() returns from now on (kept alive for good).
void SetAppkitLogger(std::shared_ptr<spdlog::logger> logger);
}  // namespace internal

}  // namespace appkit

#endif  // APPKIT_COMMON_LOG_H_
