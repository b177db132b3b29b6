// Containment (guardian/containment.h) in this process, as the guardian
// uses it: the daemon's cgroup (skipped, saying why, where cgroup2 is
// unusable) and the fallback that kills this process's stray children.
#include "guardian/containment.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/process/cgroup.h"
#include "common/process/pidfd.h"
#include "common/process/spawn.h"
#include "gtest/gtest.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit::guardian {
namespace {

using ::appkit::testing::FileExists;
using ::appkit::testing::ProcessAlive;

pid_t Start(const std::vector<std::string>& argv, int cgroup_fd = -1) {
  SpawnOptions options;
  options.argv = argv;
  options.cgroup_fd = cgroup_fd;
  auto pid = Spawn(options);
  EXPECT_TRUE(pid.ok()) << pid.status();
  return pid.ok() ? *pid : 0;
}

class ContainmentTest : public ::testing::Test {
 protected:
  void TearDown() override {
    unsetenv(kCgroupModeEnv);
    for (pid_t pid : ChildPids()) {  // whatever a failed test left
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  testing::TempDir dir_;
};

TEST_F(ContainmentTest, TheCgroupIsEmptiedAfterEachExecutorAndRemovedAtExit) {
  auto own = OwnCgroupDir();
  if (!own.ok()) GTEST_SKIP() << "no cgroup2: " << own.status();
  auto containment = Containment::Create(dir_.File("c.pid"), "");
  if (containment->cgroup().empty()) GTEST_SKIP() << "no usable cgroup2 (see the log)";
  EXPECT_EQ(containment->cgroup(), *own + "/" + DaemonCgroupName(dir_.File("c.pid"), getpid()));
  ASSERT_GE(containment->cgroup_fd(), 0);
  pid_t stray = Start({"/bin/sleep", "1000"}, containment->cgroup_fd());
  pid_t keep = Start({"/bin/sleep", "1000"});  // the executor fork server
  containment->AfterExecutor(keep);
  EXPECT_FALSE(ProcessAlive(stray));
  EXPECT_TRUE(ProcessAlive(keep));
  EXPECT_TRUE(FileExists(containment->cgroup()));
  // Kept ready for the next executor.
  pid_t next = Start({"/bin/sleep", "1000"}, containment->cgroup_fd());
  EXPECT_TRUE(ProcessAlive(next));
  kill(keep, SIGKILL);
  waitpid(keep, nullptr, 0);
  containment->AtExit();
  EXPECT_FALSE(ProcessAlive(next));
  EXPECT_FALSE(FileExists(containment->cgroup()));
}

TEST_F(ContainmentTest, AStaleCgroupOfOurPidIsClearedAndTakenOver) {
  auto own = OwnCgroupDir();
  if (!own.ok()) GTEST_SKIP() << "no cgroup2: " << own.status();
  // Left by a guardian that had our pid and died with its fork server.
  auto stale = CreateCgroup(*own, DaemonCgroupName(dir_.File("s.pid"), getpid()));
  if (!stale.ok()) GTEST_SKIP() << "no usable cgroup2: " << stale.status();
  auto fd = OpenCgroup(*stale);
  ASSERT_TRUE(fd.ok());
  pid_t old = Start({"/bin/sleep", "1000"}, fd->get());
  auto containment = Containment::Create(dir_.File("s.pid"), "");
  EXPECT_EQ(containment->cgroup(), *stale);
  EXPECT_FALSE(ProcessAlive(old));
  containment->AtExit();
  EXPECT_FALSE(FileExists(*stale));
}

TEST_F(ContainmentTest, WithoutCgroupsStrayChildrenAreKilledAfterACleanerFinishes) {
  setenv(kCgroupModeEnv, "off", 1);
  // "/bin/sh" stands for the worker binary: a child running it is a pool's
  // fork server cleaning up, and is waited for.
  auto containment = Containment::Create(dir_.File("f.pid"), "/bin/sh");
  EXPECT_TRUE(containment->cgroup().empty());
  EXPECT_EQ(containment->cgroup_fd(), -1);
  const std::string done = dir_.File("cleaner-done");
  Start({"/bin/sh", "-c", "sleep 0.3; touch " + done});
  pid_t stray = Start({"/bin/sleep", "1000"});
  pid_t keep = Start({"/bin/sleep", "1000"});
  containment->AfterExecutor(keep);
  EXPECT_TRUE(FileExists(done)) << "the cleaner was not let finish";
  EXPECT_FALSE(ProcessAlive(stray));
  EXPECT_TRUE(ProcessAlive(keep));
  containment->AtExit();
  EXPECT_FALSE(ProcessAlive(keep));
}

}  // namespace
}  // namespace appkit::guardian
