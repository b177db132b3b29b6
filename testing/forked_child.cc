#include "testing/forked_child.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/time/time.h"
#include "testing/process_helpers.h"

namespace appkit::testing {

ForkedChild::ForkedChild(const std::function<int()>& run) {
  pid_ = fork();
  if (pid_ == 0) _exit(run());
}

ForkedChild::~ForkedChild() {
  if (!code_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::optional<int> ForkedChild::Wait() {
  if (!WaitForExit(pid_, absl::Seconds(30))) return std::nullopt;
  int status = 0;
  waitpid(pid_, &status, 0);
  code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return code_;
}

}  // namespace appkit::testing
