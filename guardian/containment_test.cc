// Containment (guardian/containment.h) in this process, as the guardian
// uses it, through an EventLoop: the daemon's cgroup (skipped, saying why,
// where cgroup2 is unusable) and the fallback that kills this process's
// stray children. (Nothing reaps here: a zombie counts as dead.)
#include "guardian/containment.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/process/cgroup.h"
#include "common/process/event_loop.h"
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
  std::unique_ptr<Containment> Create(const std::string& pid_file, const std::string& worker,
                                      absl::Duration stage_wait = Containment::kStageWait) {
    return Containment::Create(&loop_, pid_file, worker, stage_wait);
  }
  // Runs a clear through the loop until its end; how long it took.
  absl::Duration ClearAndWait(Containment& containment, pid_t keep, bool final) {
    const absl::Time start = absl::Now();
    bool done = false;
    bool running = false;
    containment.Clear(keep, final, [&] {
      done = true;
      if (running) loop_.Stop();
    });
    if (!done) {
      running = true;
      // A bound for a broken clear (each of its stages ends by its stage wait).
      EventLoop::TimerId bound = loop_.AddTimer(start + absl::Seconds(30), [&] { loop_.Stop(); });
      loop_.Run();
      loop_.CancelTimer(bound);
    }
    EXPECT_TRUE(done);
    return absl::Now() - start;
  }

  void TearDown() override {
    unsetenv(kCgroupModeEnv);
    for (pid_t pid : ChildPids()) {  // whatever a failed test left
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  EventLoop loop_;
  testing::TempDir dir_;
};

TEST_F(ContainmentTest, TheCgroupIsEmptiedAfterEachExecutorAndRemovedAtExit) {
  auto own = OwnCgroupDir();
  if (!own.ok()) GTEST_SKIP() << "no cgroup2: " << own.status();
  auto containment = Create(dir_.File("c.pid"), "");
  if (containment->cgroup().empty()) GTEST_SKIP() << "no usable cgroup2 (see the log)";
  EXPECT_EQ(containment->cgroup(), *own + "/" + DaemonCgroupName(dir_.File("c.pid"), getpid()));
  ASSERT_GE(containment->cgroup_fd(), 0);
  pid_t stray = Start({"/bin/sleep", "1000"}, containment->cgroup_fd());
  pid_t keep = Start({"/bin/sleep", "1000"});  // the executor fork server
  ClearAndWait(*containment, keep, /*final=*/false);
  EXPECT_FALSE(ProcessAlive(stray));
  EXPECT_TRUE(ProcessAlive(keep));
  EXPECT_TRUE(FileExists(containment->cgroup()));
  // Kept ready for the next executor.
  pid_t next = Start({"/bin/sleep", "1000"}, containment->cgroup_fd());
  EXPECT_TRUE(ProcessAlive(next));
  kill(keep, SIGKILL);
  waitpid(keep, nullptr, 0);
  ClearAndWait(*containment, 0, /*final=*/true);
  EXPECT_FALSE(ProcessAlive(next));
  EXPECT_FALSE(FileExists(containment->cgroup()));
}

TEST_F(ContainmentTest, AnEmptyCgroupIsClearedAtOnce) {
  auto own = OwnCgroupDir();
  if (!own.ok()) GTEST_SKIP() << "no cgroup2: " << own.status();
  auto containment = Create(dir_.File("e.pid"), "");
  if (containment->cgroup().empty()) GTEST_SKIP() << "no usable cgroup2 (see the log)";
  pid_t keep = Start({"/bin/sleep", "1000"});  // a child outside the cgroup: not looked at
  bool done = false;
  containment->Clear(keep, /*final=*/false, [&] { done = true; });
  EXPECT_TRUE(done);
  EXPECT_TRUE(ProcessAlive(keep));
  ClearAndWait(*containment, keep, /*final=*/true);
  EXPECT_FALSE(FileExists(containment->cgroup()));
}

TEST_F(ContainmentTest, ACleanerInAPoolCgroupIsLetFinishThenTheRestIsKilled) {
  auto own = OwnCgroupDir();
  if (!own.ok()) GTEST_SKIP() << "no cgroup2: " << own.status();
  auto containment = Create(dir_.File("p.pid"), "");
  if (containment->cgroup().empty()) GTEST_SKIP() << "no usable cgroup2 (see the log)";
  auto pool = CreateCgroup(containment->cgroup(), PoolCgroupName(12345));
  ASSERT_TRUE(pool.ok()) << pool.status();
  auto pool_fd = OpenCgroup(*pool);
  ASSERT_TRUE(pool_fd.ok());
  const std::string done = dir_.File("cleaner-done");
  Start({"/bin/sh", "-c", "sleep 0.3; touch " + done}, pool_fd->get());
  pid_t stray = Start({"/bin/sleep", "1000"}, containment->cgroup_fd());
  ClearAndWait(*containment, 0, /*final=*/false);
  EXPECT_TRUE(FileExists(done)) << "the cleaner was not let finish";
  EXPECT_FALSE(ProcessAlive(stray));
  EXPECT_FALSE(FileExists(*pool)) << "the pool cgroup below was not removed";
  EXPECT_TRUE(FileExists(containment->cgroup()));
  ClearAndWait(*containment, 0, /*final=*/true);
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
  auto containment = Create(dir_.File("s.pid"), "");
  EXPECT_EQ(containment->cgroup(), *stale);
  // The guardian's machine clears it before the first executor.
  ClearAndWait(*containment, 0, /*final=*/false);
  EXPECT_FALSE(ProcessAlive(old));
  ClearAndWait(*containment, 0, /*final=*/true);
  EXPECT_FALSE(FileExists(*stale));
}

TEST_F(ContainmentTest, WithoutCgroupsStrayChildrenAreKilledAfterACleanerFinishes) {
  setenv(kCgroupModeEnv, "off", 1);
  // "/bin/sh" stands for the worker binary: a child running it is a pool's
  // fork server cleaning up, and is waited for.
  auto containment = Create(dir_.File("f.pid"), "/bin/sh");
  EXPECT_TRUE(containment->cgroup().empty());
  EXPECT_EQ(containment->cgroup_fd(), -1);
  const std::string done = dir_.File("cleaner-done");
  Start({"/bin/sh", "-c", "sleep 0.3; touch " + done});
  pid_t stray = Start({"/bin/sleep", "1000"});
  pid_t keep = Start({"/bin/sleep", "1000"});
  ClearAndWait(*containment, keep, /*final=*/false);
  EXPECT_TRUE(FileExists(done)) << "the cleaner was not let finish";
  EXPECT_FALSE(ProcessAlive(stray));
  EXPECT_TRUE(ProcessAlive(keep));
  ClearAndWait(*containment, 0, /*final=*/true);
  EXPECT_FALSE(ProcessAlive(keep));
}

TEST_F(ContainmentTest, ACleanerThatDoesNotFinishIsKilledAtTheDeadline) {
  setenv(kCgroupModeEnv, "off", 1);
  auto containment = Create(dir_.File("h.pid"), "/bin/sh", absl::Milliseconds(200));
  // It stops itself: a cleaner that never finishes (and forks nothing).
  pid_t cleaner = Start({"/bin/sh", "-c", "kill -STOP $$; true"});
  const absl::Duration took = ClearAndWait(*containment, 0, /*final=*/false);
  EXPECT_FALSE(ProcessAlive(cleaner));
  EXPECT_GE(took, absl::Milliseconds(200));
  EXPECT_LT(took, absl::Seconds(10));
}

}  // namespace
}  // namespace appkit::guardian
