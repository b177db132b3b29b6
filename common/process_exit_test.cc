// ProcessExit, SignalName and SignalProcessGroup with real children.
#include "common/process_exit.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include "testing/process_helpers.h"

namespace appkit {
namespace {

pid_t ChildThatExits(int code) {
  pid_t pid = fork();
  if (pid == 0) _exit(code);
  return pid;
}

pid_t ChildThatPauses() {
  pid_t pid = fork();
  if (pid == 0) {
    for (;;) pause();
  }
  return pid;
}

TEST(ProcessExitTest, AnExitCode) {
  int status = 0;
  pid_t pid = ChildThatExits(3);
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ProcessExit exit = ProcessExit::FromWaitStatus(status);
  EXPECT_FALSE(exit.signaled);
  EXPECT_EQ(exit.exitcode(), 3);
  EXPECT_FALSE(exit.success());
  EXPECT_EQ(exit.Describe(), "exited with code 3");

  siginfo_t info = {};
  pid = ChildThatExits(0);
  ASSERT_EQ(waitid(P_PID, pid, &info, WEXITED), 0);
  exit = ProcessExit::FromSiginfo(info);
  EXPECT_TRUE(exit.success());
  EXPECT_EQ(exit.Describe(), "exited with code 0");
}

TEST(ProcessExitTest, ASignalIsMinusItsNumberAndNamed) {
  pid_t pid = ChildThatPauses();
  kill(pid, SIGKILL);
  siginfo_t info = {};
  ASSERT_EQ(waitid(P_PID, pid, &info, WEXITED), 0);
  ProcessExit exit = ProcessExit::FromSiginfo(info);
  EXPECT_TRUE(exit.signaled);
  EXPECT_EQ(exit.exitcode(), -9);
  EXPECT_EQ(exit.Describe(), "killed by signal 9 (SIGKILL)");

  pid = ChildThatPauses();
  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_EQ(ProcessExit::FromWaitStatus(status).Describe(), "killed by signal 15 (SIGTERM)");
}

TEST(SignalNameTest, NamedAndUnnamed) {
  EXPECT_EQ(SignalName(SIGTERM), "SIGTERM");
  EXPECT_EQ(SignalName(SIGHUP), "SIGHUP");
  EXPECT_EQ(SignalName(70), "signal 70");
}

// The whole group, grandchildren included; and a child that has not made
// its group yet (a fork-server child just after its fork) is signalled
// itself.
TEST(SignalProcessGroupTest, TheGroupOrTheLeaderWhileThereIsNoGroup) {
  int ready[2];
  ASSERT_EQ(pipe2(ready, O_CLOEXEC), 0);
  pid_t leader = fork();
  if (leader == 0) {
    setpgid(0, 0);
    pid_t grandchild = ChildThatPauses();
    (void)!write(ready[1], &grandchild, sizeof(grandchild));
    for (;;) pause();
  }
  close(ready[1]);
  pid_t grandchild = 0;
  ASSERT_EQ(read(ready[0], &grandchild, sizeof(grandchild)), sizeof(grandchild));
  close(ready[0]);
  EXPECT_EQ(SignalProcessGroup(leader, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(leader, &status, 0), leader);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_TRUE(testing::WaitForExit(grandchild));

  pid_t no_group = ChildThatPauses();  // in our group: no group of its own
  EXPECT_EQ(SignalProcessGroup(no_group, SIGKILL), 0);
  ASSERT_EQ(waitpid(no_group, &status, 0), no_group);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

}  // namespace
}  // namespace appkit
