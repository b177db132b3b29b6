// spdlog's out-of-line code (what libspdlog.so exports), compiled into a
// binary: //third_party:spdlog_static, for the binaries linked with
// STATIC_RUNTIME_LINKOPTS (third_party/static_link.bzl) only.
//
// appkit's code is compiled against //third_party:spdlog
// (SPDLOG_COMPILED_LIB, SPDLOG_FMT_EXTERNAL): its headers declare these
// functions and templates without defining them. This file includes their
// definitions (the -inl.h headers Debian's libspdlog-dev ships) and
// instantiates the templates spdlog's own library instantiates, so that a
// binary linking it needs neither libspdlog.so nor, through it,
// libstdc++.so. third_party/static_runtime_test.sh checks the result.
#ifndef SPDLOG_COMPILED_LIB
#error "compile with //third_party:spdlog's defines (SPDLOG_COMPILED_LIB)"
#endif

#include <mutex>

#include "spdlog/async.h"
#include "spdlog/async_logger-inl.h"
#include "spdlog/cfg/helpers-inl.h"
#include "spdlog/common-inl.h"
#include "spdlog/details/backtracer-inl.h"
#include "spdlog/details/file_helper-inl.h"
#include "spdlog/details/log_msg-inl.h"
#include "spdlog/details/log_msg_buffer-inl.h"
#include "spdlog/details/null_mutex.h"
#include "spdlog/details/os-inl.h"
#include "spdlog/details/periodic_worker-inl.h"
#include "spdlog/details/registry-inl.h"
#include "spdlog/details/thread_pool-inl.h"
#include "spdlog/logger-inl.h"
#include "spdlog/pattern_formatter-inl.h"
#include "spdlog/sinks/ansicolor_sink-inl.h"
#include "spdlog/sinks/base_sink-inl.h"
#include "spdlog/sinks/basic_file_sink-inl.h"
#include "spdlog/sinks/rotating_file_sink-inl.h"
#include "spdlog/sinks/sink-inl.h"
#include "spdlog/sinks/stdout_color_sinks-inl.h"
#include "spdlog/sinks/stdout_sinks-inl.h"
#include "spdlog/spdlog-inl.h"

namespace spdlog {
namespace sinks {

template class SPDLOG_API base_sink<std::mutex>;
template class SPDLOG_API base_sink<details::null_mutex>;
template class SPDLOG_API basic_file_sink<std::mutex>;
template class SPDLOG_API basic_file_sink<details::null_mutex>;
template class SPDLOG_API rotating_file_sink<std::mutex>;
template class SPDLOG_API rotating_file_sink<details::null_mutex>;

template class SPDLOG_API stdout_sink_base<details::console_mutex>;
template class SPDLOG_API stdout_sink_base<details::console_nullmutex>;
template class SPDLOG_API stdout_sink<details::console_mutex>;
template class SPDLOG_API stdout_sink<details::console_nullmutex>;
template class SPDLOG_API stderr_sink<details::console_mutex>;
template class SPDLOG_API stderr_sink<details::console_nullmutex>;

template class SPDLOG_API ansicolor_sink<details::console_mutex>;
template class SPDLOG_API ansicolor_sink<details::console_nullmutex>;
template class SPDLOG_API ansicolor_stdout_sink<details::console_mutex>;
template class SPDLOG_API ansicolor_stdout_sink<details::console_nullmutex>;
template class SPDLOG_API ansicolor_stderr_sink<details::console_mutex>;
template class SPDLOG_API ansicolor_stderr_sink<details::console_nullmutex>;

}  // namespace sinks

// The console loggers' factories, declared (not defined) by the headers.
#define APPKIT_SPDLOG_CONSOLE_FACTORIES(Factory)                                             \
  template SPDLOG_API std::shared_ptr<logger> stdout_logger_mt<Factory>(const std::string&); \
  template SPDLOG_API std::shared_ptr<logger> stdout_logger_st<Factory>(const std::string&); \
  template SPDLOG_API std::shared_ptr<logger> stderr_logger_mt<Factory>(const std::string&); \
  template SPDLOG_API std::shared_ptr<logger> stderr_logger_st<Factory>(const std::string&); \
  template SPDLOG_API std::shared_ptr<logger> stdout_color_mt<Factory>(const std::string&,   \
                                                                       color_mode);          \
  template SPDLOG_API std::shared_ptr<logger> stdout_color_st<Factory>(const std::string&,   \
                                                                       color_mode);          \
  template SPDLOG_API std::shared_ptr<logger> stderr_color_mt<Factory>(const std::string&,   \
                                                                       color_mode);          \
  template SPDLOG_API std::shared_ptr<logger> stderr_color_st<Factory>(const std::string&,   \
                                                                       color_mode);

APPKIT_SPDLOG_CONSOLE_FACTORIES(synchronous_factory)
APPKIT_SPDLOG_CONSOLE_FACTORIES(async_factory)
#undef APPKIT_SPDLOG_CONSOLE_FACTORIES

}  // namespace spdlog
