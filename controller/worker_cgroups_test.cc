// WorkerCgroups (controller/worker_cgroups.h) in this process, as a pool
// uses it (skipped, saying why, where cgroup2 is unusable).
#include "controller/worker_cgroups.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/process/cgroup.h"
#include "common/process/spawn.h"
#include "gtest/gtest.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit::controller {
namespace {

using ::appkit::testing::FileExists;
using ::appkit::testing::ProcessAlive;

pid_t SleepIn(int cgroup_fd) {
  SpawnOptions options;
  options.argv = {"/bin/sleep", "1000"};
  options.cgroup_fd = cgroup_fd;
  auto pid = Spawn(options);
  EXPECT_TRUE(pid.ok()) << pid.status();
  return pid.ok() ? *pid : 0;
}

TEST(WorkerCgroupsTest, OnePerWorkerEmptiedAtItsExitAllRemovedAtTheEnd) {
  auto cgroups = WorkerCgroups::Create();
  if (!cgroups) GTEST_SKIP() << "no usable cgroup2 (see the log)";
  const std::string pool = cgroups->pool();
  EXPECT_EQ(pool.substr(pool.rfind('/') + 1), PoolCgroupName(getpid()));
  UniqueFd w0 = cgroups->OpenWorker(0, "a/b");
  ASSERT_TRUE(w0);
  EXPECT_TRUE(FileExists(pool + "/w0-a_b"));
  pid_t first = SleepIn(w0.get());
  cgroups->AfterWorker(0, "a/b", first);
  EXPECT_FALSE(ProcessAlive(first));
  waitpid(first, nullptr, 0);
  // The same cgroup takes the next run.
  UniqueFd again = cgroups->OpenWorker(0, "a/b");
  pid_t second = SleepIn(again.get());
  EXPECT_TRUE(ProcessAlive(second));
  cgroups.reset();
  EXPECT_FALSE(ProcessAlive(second));
  waitpid(second, nullptr, 0);
  EXPECT_FALSE(FileExists(pool));
}

TEST(WorkerCgroupsTest, AWorkerWhoseCgroupCannotBeMadeRunsWithout) {
  auto cgroups = WorkerCgroups::Create();
  if (!cgroups) GTEST_SKIP() << "no usable cgroup2 (see the log)";
  ASSERT_EQ(rmdir(cgroups->pool().c_str()), 0);  // gone from under the pool
  EXPECT_FALSE(cgroups->OpenWorker(0, "w"));
  EXPECT_FALSE(cgroups->OpenPool());
  cgroups->AfterWorker(0, "w", 1);  // nothing to do, nothing signalled
}

TEST(WorkerCgroupsTest, AStalePoolCgroupOfOurPidIsClearedAndTakenOver) {
  auto own = OwnCgroupDir();
  if (!own.ok()) GTEST_SKIP() << "no cgroup2: " << own.status();
  // Left by a controller that had our pid and died with its fork server.
  auto stale = CreateCgroup(*own, PoolCgroupName(getpid()));
  if (!stale.ok()) GTEST_SKIP() << "no usable cgroup2: " << stale.status();
  auto fd = OpenCgroup(*stale);
  ASSERT_TRUE(fd.ok());
  pid_t old = SleepIn(fd->get());
  auto cgroups = WorkerCgroups::Create();
  ASSERT_NE(cgroups, nullptr);
  EXPECT_EQ(cgroups->pool(), *stale);
  EXPECT_FALSE(ProcessAlive(old));
  waitpid(old, nullptr, 0);
  cgroups.reset();
  EXPECT_FALSE(FileExists(*stale));
}

TEST(WorkerCgroupsTest, NoneWhenCgroupsAreOff) {
  setenv(kCgroupModeEnv, "off", 1);
  EXPECT_EQ(WorkerCgroups::Create(), nullptr);
  unsetenv(kCgroupModeEnv);
}

}  // namespace
}  // namespace appkit::controller
