// ForkedChild: a test's child process that runs a function and exits with
// its return value; SIGKILLed and reaped when the test did not wait for it
// (a failing test leaves nothing behind). Wait() gives the exit code, or
// 128 + N for death by signal N, as a shell says; nullopt after 30 s.
#ifndef APPKIT_TESTING_FORKED_CHILD_H_
#define APPKIT_TESTING_FORKED_CHILD_H_

#include <sys/types.h>

#include <functional>
#include <optional>

namespace appkit::testing {

class ForkedChild {
 public:
  explicit ForkedChild(const std::function<int()>& run);
  ~ForkedChild();
  ForkedChild(const ForkedChild&) = delete;
  ForkedChild& operator=(const ForkedChild&) = delete;

  pid_t pid() const { return pid_; }
  std::optional<int> Wait();

 private:
  pid_t pid_ = 0;
  std::optional<int> code_;
};

}  // namespace appkit::testing

#endif  // APPKIT_TESTING_FORKED_CHILD_H_
