// StartWorkers in a plain process (not a daemon's executor): a child of
// this test calls it directly. SIGTERM to that process stops the pool
// gracefully; SIGKILL to it leaves no worker, pid file or cgroup behind.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/appkit.h"
#include "common/process/cgroup.h"
#include "gtest/gtest.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::FileExists;
using ::appkit::testing::PidOfEvent;
using ::appkit::testing::ProcessAlive;
using ::appkit::testing::WaitFor;
using ::appkit::testing::WaitForExit;

class PlainProcessTest : public ::testing::Test {
 protected:
  // Forks a child that runs a pool of two workers; returns its pid.
  pid_t StartPoolProcess() {
    pid_t child = fork();
    if (child == 0) {
      std::vector<WorkerStartInfo> workers;
      for (const char* name : {"w1", "w2"}) {
        WorkerStartInfo info;
        info.name = name;
        info.entry = testing::RunfilePath("testing/libtest_module.so") + ":run_until_quit";
        info.pid_filename = dir_.File(std::string(name) + ".pid");
        info.args.Set("events", dir_.File(std::string(name) + ".events"));
        workers.push_back(info);
      }
      WorkersOptions options;
      options.restart_interval = absl::Milliseconds(100);
      absl::Status status = StartWorkers(workers, options);
      _exit(status.ok() ? 0 : 1);
    }
    reaper_.Track(child);
    return child;
  }

  std::pair<pid_t, pid_t> WaitWorkers() {
    pid_t w1 = 0, w2 = 0;
    WaitFor([&] {
      w1 = PidOfEvent(dir_.File("w1.events"), "started");
      w2 = PidOfEvent(dir_.File("w2.events"), "started");
      return w1 != 0 && w2 != 0 && FileExists(dir_.File("w1.pid")) &&
             FileExists(dir_.File("w2.pid"));
    });
    reaper_.Track(w1);
    reaper_.Track(w2);
    return {w1, w2};
  }

  testing::TempDir dir_;
  testing::ProcessReaper reaper_;
};

TEST_F(PlainProcessTest, SigtermStopsThePoolAndStartWorkersReturnsOk) {
  pid_t child = StartPoolProcess();
  auto [w1, w2] = WaitWorkers();
  ASSERT_GT(w1, 0);
  ASSERT_GT(w2, 0);
  EXPECT_EQ(testing::ParentOf(w1), child);  // the caller's own children
  kill(child, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_FALSE(ProcessAlive(w1));
  EXPECT_FALSE(ProcessAlive(w2));
  EXPECT_NE(PidOfEvent(dir_.File("w1.events"), "quit"), 0);  // asked, not killed
  EXPECT_FALSE(FileExists(dir_.File("w1.pid")));
  EXPECT_FALSE(FileExists(dir_.File("w2.pid")));
}

TEST_F(PlainProcessTest, SigkillLeavesNoWorkerAndNoPidFile) {
  pid_t child = StartPoolProcess();
  auto [w1, w2] = WaitWorkers();
  ASSERT_GT(w1, 0);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_TRUE(WaitForExit(w1, absl::Seconds(1)));
  EXPECT_TRUE(WaitForExit(w2, absl::Seconds(1)));
  EXPECT_TRUE(
      WaitFor([&] { return !FileExists(dir_.File("w1.pid")) && !FileExists(dir_.File("w2.pid")); },
              absl::Seconds(3)));
  // Nor the pool's cgroup (where cgroups are usable: common/process/cgroup.h).
  if (absl::StatusOr<std::string> own = OwnCgroupDir(); own.ok()) {
    const std::string pool = *own + "/" + PoolCgroupName(child);
    EXPECT_TRUE(WaitFor([&] { return !FileExists(pool); }, absl::Seconds(3))) << pool << " left";
  }
}

}  // namespace
}  // namespace appkit
