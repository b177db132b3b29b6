// Test helpers for real processes: wait for an event with a deadline, and
// make sure nothing a test started outlives it.
//
// ProcessReaper remembers every pid a test saw (guardians, executors,
// workers) and SIGKILLs the survivors when it goes away, so a failing test
// still leaves no process behind. Waiting on a process that is not our
// child uses a pidfd (pollable, immune to pid reuse).
#ifndef APPKIT_TESTING_PROCESS_HELPERS_H_
#define APPKIT_TESTING_PROCESS_HELPERS_H_

#include <sys/types.h>

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace appkit::testing {

// Polls `condition` every 2 ms until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout = absl::Seconds(10));

// True while `pid` exists and is not a zombie.
bool ProcessAlive(pid_t pid);

// Waits until `pid` has exited (any process, not only a child).
bool WaitForExit(pid_t pid, absl::Duration timeout = absl::Seconds(10));

// The parent pid of `pid`, or 0.
pid_t ParentOf(pid_t pid);

// The children of `pid` (of all its threads), from /proc; empty when gone.
std::vector<pid_t> ChildrenOf(pid_t pid);

// Lines of `path` that start with `prefix`.
std::vector<std::string> LinesWithPrefix(const std::string& path, const std::string& prefix);

// The pid on the first line of `path` starting with `event` ("started 123").
pid_t PidOfEvent(const std::string& path, const std::string& event, int nth = 0);

class ProcessReaper {
 public:
  ProcessReaper() = default;
  ~ProcessReaper();
  void Track(pid_t pid);

 private:
  std::mutex mu_;
  std::vector<pid_t> pids_;
};

// Runs a program to completion (killed after `timeout`) and returns what
// it printed.
struct CommandResult {
  int exit_code = -1;  // -1: killed or not started
  std::string out;
  std::string err;
};
CommandResult RunCommand(const std::vector<std::string>& argv,
                         absl::Duration timeout = absl::Seconds(30));

// The runfiles path of a file of this workspace ("testing/libtest_module.so").
std::string RunfilePath(const std::string& path);

}  // namespace appkit::testing

#endif  // APPKIT_TESTING_PROCESS_HELPERS_H_
