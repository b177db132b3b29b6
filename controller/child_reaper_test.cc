// ChildReaper with real children and a real loop: each is reaped once it
// exits, with its status, from the loop and never from within Reap.
#include "controller/child_reaper.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace appkit::controller {
namespace {

// A child that exits with `code` once the write end of `go` is closed
// (or at once without one).
pid_t Child(int code, const int* go = nullptr) {
  pid_t pid = fork();
  if (pid == 0) {
    if (go != nullptr) {
      close(go[1]);
      char byte;
      (void)!read(go[0], &byte, 1);
    }
    _exit(code);
  }
  return pid;
}

bool Reaped(pid_t pid) { return waitpid(pid, nullptr, WNOHANG) < 0 && errno == ECHILD; }

class ChildReaperTest : public ::testing::Test {
 protected:
  // Runs the loop until the reaper is idle (10 s at most).
  void RunUntilIdle() {
    reaper_.SetOnIdle([this] { loop_.Stop(); });
    const EventLoop::TimerId guard =
        loop_.AddTimer(absl::Now() + absl::Seconds(10), [this] { loop_.Stop(); });
    loop_.Run();
    loop_.CancelTimer(guard);
  }
  EventLoop loop_;
  ChildReaper reaper_{&loop_};
};

TEST_F(ChildReaperTest, AChildIsReapedWithItsExitStatusOnceItExits) {
  int go[2];
  ASSERT_EQ(pipe2(go, O_CLOEXEC), 0);
  const pid_t pid = Child(7, go);
  close(go[0]);
  std::optional<ProcessExit> exit;
  reaper_.Reap(pid, [&](const ProcessExit& e) { exit = e; });
  EXPECT_FALSE(exit.has_value());  // never from within Reap
  EXPECT_TRUE(reaper_.reaping(pid));
  EXPECT_FALSE(reaper_.idle());
  close(go[1]);
  RunUntilIdle();
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->exitcode(), 7);
  EXPECT_TRUE(Reaped(pid));
  EXPECT_FALSE(reaper_.reaping(pid));
}

TEST_F(ChildReaperTest, AKilledChildIsReportedWithItsSignal) {
  int go[2];
  ASSERT_EQ(pipe2(go, O_CLOEXEC), 0);
  const pid_t pid = Child(0, go);
  close(go[0]);
  std::optional<ProcessExit> exit;
  reaper_.Reap(pid, [&](const ProcessExit& e) { exit = e; });
  kill(pid, SIGKILL);
  RunUntilIdle();
  close(go[1]);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->exitcode(), -9);
}

TEST_F(ChildReaperTest, ManyChildrenAreAllReaped) {
  std::vector<pid_t> pids;
  int reaped = 0;
  for (int i = 0; i < 20; ++i) {
    pids.push_back(Child(i));
    reaper_.Reap(pids.back(), [&](const ProcessExit&) { ++reaped; });
  }
  RunUntilIdle();
  EXPECT_EQ(reaped, 20);
  for (pid_t pid : pids) EXPECT_TRUE(Reaped(pid));
}

TEST_F(ChildReaperTest, AChildReapedElsewhereEndsWithStatusUnknown) {
  const pid_t pid = Child(3);
  ASSERT_EQ(waitpid(pid, nullptr, 0), pid);
  std::optional<ProcessExit> exit;
  reaper_.Reap(pid, [&](const ProcessExit& e) { exit = e; });  // no pidfd: the retry timer
  RunUntilIdle();
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->exitcode(), 255);
}

TEST_F(ChildReaperTest, APidWatchedTwiceKeepsItsFirstCallback) {
  const pid_t pid = Child(1);
  int first = 0, second = 0;
  reaper_.Reap(pid, [&](const ProcessExit&) { ++first; });
  reaper_.Reap(pid, [&](const ProcessExit&) { ++second; });
  RunUntilIdle();
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 0);
}

}  // namespace
}  // namespace appkit::controller
