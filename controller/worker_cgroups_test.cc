// WorkerCgroups (controller/worker_cgroups.h) in this process, as a pool
// uses it (skipped, saying why, where cgroup2 is unusable).
#include "controller/worker_cgroups.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>

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

// Runs `loop` until a callback stops it (the test's `done` does) or a
// generous deadline passes (then the test fails on `done`).
void RunUntil(EventLoop& loop, const bool& done) {
  if (done) return;
  EventLoop::TimerId guard = loop.AddTimer(absl::Now() + absl::Seconds(20), [&] { loop.Stop(); });
  loop.Run();
  loop.CancelTimer(guard);
}

TEST(WorkerCgroupsTest, OnePerWorkerEmptiedAtItsExitAllRemovedAtTheEnd) {
  EventLoop loop;
  auto cgroups = WorkerCgroups::Create(&loop);
  if (!cgroups) GTEST_SKIP() << "no usable cgroup2 (see the log)";
  const std::string pool = cgroups->pool();
  EXPECT_EQ(pool.substr(pool.rfind('/') + 1), PoolCgroupName(getpid()));
  UniqueFd w0 = cgroups->OpenWorker(0, "a/b");
  ASSERT_TRUE(w0);
  EXPECT_TRUE(FileExists(pool + "/w0-a_b"));
  pid_t first = SleepIn(w0.get());
  bool done = false;
  cgroups->AfterWorker(0, "a/b", first, [&] {
    done = true;
    loop.Stop();
  });
  RunUntil(loop, done);
  EXPECT_TRUE(done);
  EXPECT_FALSE(cgroups->Clearing(0));
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

TEST(WorkerCgroupsTest, AnEmptyCgroupAfterAWorkerIsDoneAtOnce) {
  EventLoop loop;
  auto cgroups = WorkerCgroups::Create(&loop);
  if (!cgroups) GTEST_SKIP() << "no usable cgroup2 (see the log)";
  UniqueFd w0 = cgroups->OpenWorker(0, "w");
  ASSERT_TRUE(w0);
  int done = 0;
  cgroups->AfterWorker(0, "w", 1, [&] { ++done; });  // the worker left nothing
  EXPECT_EQ(done, 1);
  EXPECT_FALSE(cgroups->Clearing(0));
}

// A worker left a tree that keeps forking (a shell starting sleeps in a
// loop): the clear runs through the loop, pass after pass, until the
// cgroup is empty; only then is the controller told (done, once).
TEST(WorkerCgroupsTest, ALeftoverTreeThatKeepsForkingIsKilledThroughTheLoop) {
  EventLoop loop;
  auto cgroups = WorkerCgroups::Create(&loop);
  if (!cgroups) GTEST_SKIP() << "no usable cgroup2 (see the log)";
  UniqueFd w0 = cgroups->OpenWorker(0, "w");
  ASSERT_TRUE(w0);
  SpawnOptions options;
  options.argv = {"/bin/sh", "-c", "while :; do sleep 1000 & sleep 1000 & wait -n; done"};
  options.cgroup_fd = w0.get();
  auto shell = Spawn(options);
  ASSERT_TRUE(shell.ok()) << shell.status();
  const std::string cgroup = cgroups->pool() + "/" + WorkerCgroupName(0, "w");
  // The shell and its first two sleeps are in.
  ASSERT_TRUE(::appkit::testing::WaitFor([&] {
    std::ifstream procs(cgroup + "/cgroup.procs");
    return std::count(std::istreambuf_iterator<char>(procs), std::istreambuf_iterator<char>(),
                      '\n') >= 3;
  }));
  int done = 0;
  bool empty_at_done = false;
  bool finished = false;
  cgroups->AfterWorker(0, "w", 4242, [&] {
    ++done;
    absl::StatusOr<bool> populated = CgroupPopulated(cgroup);
    empty_at_done = populated.ok() && !*populated;
    finished = true;
    loop.Stop();
  });
  RunUntil(loop, finished);
  EXPECT_EQ(done, 1);
  EXPECT_TRUE(empty_at_done);
  EXPECT_FALSE(ProcessAlive(*shell));
  waitpid(*shell, nullptr, 0);
}

// The pool ends while a clear is under way: its `done` is dropped, and
// what is left dies with the pool's cgroups.
TEST(WorkerCgroupsTest, APoolThatEndsMidClearDropsItsDoneAndKillsTheRest) {
  EventLoop loop;
  auto cgroups = WorkerCgroups::Create(&loop);
  if (!cgroups) GTEST_SKIP() << "no usable cgroup2 (see the log)";
  UniqueFd w0 = cgroups->OpenWorker(0, "w");
  ASSERT_TRUE(w0);
  SpawnOptions options;
  options.argv = {"/bin/sh", "-c", "while :; do sleep 1000 & wait -n; done"};
  options.cgroup_fd = w0.get();
  auto shell = Spawn(options);
  ASSERT_TRUE(shell.ok()) << shell.status();
  const std::string pool = cgroups->pool();
  int done = 0;
  cgroups->AfterWorker(0, "w", 4242, [&] { ++done; });
  cgroups.reset();
  EXPECT_FALSE(ProcessAlive(*shell));
  waitpid(*shell, nullptr, 0);
  EXPECT_FALSE(FileExists(pool));
  EXPECT_LE(done, 1);  // 1 only if the shell died before the first check
}

TEST(WorkerCgroupsTest, AWorkerWhoseCgroupCannotBeMadeRunsWithout) {
  EventLoop loop;
  auto cgroups = WorkerCgroups::Create(&loop);
  if (!cgroups) GTEST_SKIP() << "no usable cgroup2 (see the log)";
  ASSERT_EQ(rmdir(cgroups->pool().c_str()), 0);  // gone from under the pool
  EXPECT_FALSE(cgroups->OpenWorker(0, "w"));
  EXPECT_FALSE(cgroups->OpenPool());
  int done = 0;
  cgroups->AfterWorker(0, "w", 1, [&] { ++done; });  // nothing to do, nothing signalled
  EXPECT_EQ(done, 1);
}

TEST(WorkerCgroupsTest, AStalePoolCgroupOfOurPidIsClearedAndTakenOver) {
  EventLoop loop;
  auto own = OwnCgroupDir();
  if (!own.ok()) GTEST_SKIP() << "no cgroup2: " << own.status();
  // Left by a controller that had our pid and died with its fork server.
  auto stale = CreateCgroup(*own, PoolCgroupName(getpid()));
  if (!stale.ok()) GTEST_SKIP() << "no usable cgroup2: " << stale.status();
  auto fd = OpenCgroup(*stale);
  ASSERT_TRUE(fd.ok());
  pid_t old = SleepIn(fd->get());
  auto cgroups = WorkerCgroups::Create(&loop);
  ASSERT_NE(cgroups, nullptr);
  EXPECT_EQ(cgroups->pool(), *stale);
  EXPECT_FALSE(ProcessAlive(old));
  waitpid(old, nullptr, 0);
  cgroups.reset();
  EXPECT_FALSE(FileExists(*stale));
}

TEST(WorkerCgroupsTest, NoneWhenCgroupsAreOff) {
  EventLoop loop;
  setenv(kCgroupModeEnv, "off", 1);
  EXPECT_EQ(WorkerCgroups::Create(&loop), nullptr);
  unsetenv(kCgroupModeEnv);
}

}  // namespace
}  // namespace appkit::controller
