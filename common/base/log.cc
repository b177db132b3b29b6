#include "common/base/log.h"

#include <atomic>
#include <mutex>
#include <vector>

#include "spdlog/spdlog.h"

namespace appkit {
namespace {

struct AppkitLogger {
  std::atomic<spdlog::logger*> current{nullptr};
  std::mutex mu;
  // Every logger Log() ever returned: another thread may still be using
  // one when logging is configured again.
  std::vector<std::shared_ptr<spdlog::logger>> all;
};

AppkitLogger& State() {
  static AppkitLogger* state = new AppkitLogger();  // never destroyed: logging at exit
  return *state;
}

}  // namespace

spdlog::logger& Log() {
  spdlog::logger* logger = State().current.load(std::memory_order_acquire);
  return logger != nullptr ? *logger : *spdlog::default_logger_raw();
}

namespace internal {

void SetAppkitLogger(std::shared_ptr<spdlog::logger> logger) {
  AppkitLogger& state = State();
  std::lock_guard<std::mutex> lock(state.mu);
  state.current.store(logger.get(), std::memory_order_release);
  state.all.push_back(std::move(logger));
}

}  // namespace internal
}  // namespace appkit
