#include "common/runtime/quit.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>

#include "absl/time/clock.h"
#include "common/runtime/supervision.h"

namespace appkit {
namespace {

struct QuitState {
  std::atomic<bool> quit{false};
  std::atomic<int> fd{-1};
  std::atomic<pid_t> forward_to{0};
  std::atomic<bool> handler_installed{false};
};

QuitState& State() {
  static QuitState* state = new QuitState();  // never destroyed: handlers may run at exit
  return *state;
}

void OnQuitSignal(int sig, siginfo_t* info, void*) {
  int saved_errno = errno;
  internal::RequestQuit();
  pid_t forward = State().forward_to.load();
  if (sig == SIGTERM && forward > 0 && (info == nullptr || info->si_pid != forward)) {
    kill(forward, SIGTERM);
  }
  errno = saved_errno;
}

}  // namespace

bool QuitRequested() {
  internal::BeatHeart();  // an entry that checks for quit is alive (SPEC §8)
  return State().quit.load(std::memory_order_acquire);
}

namespace {

// Not QuitRequested(): its beat would say "alive now" over Sleep's "alive
// until the deadline".
void SleepUntil(absl::Time deadline) {
  pollfd pfd = {internal::QuitFd(), POLLIN, 0};
  while (!State().quit.load(std::memory_order_acquire)) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return;
    timespec timeout = absl::ToTimespec(left);
    int n = ppoll(&pfd, 1, &timeout, nullptr);
    if (n > 0) return;
    if (n < 0 && errno != EINTR) return;
  }
}

}  // namespace

void Sleep(absl::Duration duration, absl::Duration /*step*/) {
  // Asleep as asked is alive: the beat says "until the sleep ends" (a
  // year at most), and the wake-up beats again.
  const absl::Duration capped =
      std::min(std::max(duration, absl::ZeroDuration()), absl::Hours(24 * 365));
  internal::BeatHeartUntil(internal::MonotonicNanos() + absl::ToInt64Nanoseconds(capped));
  SleepUntil(absl::Now() + duration);
  internal::BeatHeart();
}

namespace internal {

int QuitFd() {
  static std::once_flag once;
  std::call_once(once, [] { State().fd.store(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)); });
  return State().fd.load();
}

void RequestQuit() {
  QuitState& state = State();
  state.quit.store(true, std::memory_order_release);
  int fd = state.fd.load();
  if (fd >= 0) {
    uint64_t one = 1;
    (void)!write(fd, &one, sizeof(one));
  }
}

bool QuitSignalHandlerInstalled() { return State().handler_installed.load(); }

void InstallQuitSignalHandler(pid_t forward_to) {
  QuitFd();
  State().handler_installed.store(true);
  State().forward_to.store(forward_to);
  struct sigaction action = {};
  action.sa_sigaction = OnQuitSignal;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

}  // namespace internal
}  // namespace appkit
