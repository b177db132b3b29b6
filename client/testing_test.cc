// The public test fixture (client/testing.h) against real daemons: the
// whole life cycle, and each way it reports a failure or something left.
#include "client/testing.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/process_helpers.h"

namespace appkit {
namespace {

using ::appkit::testing::TestDaemon;
using Json = nlohmann::json;

std::string Module() { return ::appkit::testing::RunfilePath("testing/libtest_module.so"); }

bool Has(const absl::Status& status, const std::string& part) {
  return std::string(status.message()).find(part) != std::string::npos;
}

// A daemon whose entry runs a pool of `count` workers.
DaemonOptions PoolOptions(const TestDaemon& daemon, int count, int restart_interval_ms = -1) {
  DaemonOptions options = daemon.Options(Module() + ":run_workers");
  Json pool = {{"workers", Json::array()}};
  for (int i = 1; i <= count; ++i) {
    const std::string name = "w" + std::to_string(i);
    pool["workers"].push_back({{"name", name},
                               {"entry", Module() + ":run_until_quit"},
                               {"pid_filename", daemon.Path(name + ".pid")}});
  }
  if (restart_interval_ms >= 0) pool["restart_interval_ms"] = restart_interval_ms;
  options.daemon_args = *Args::FromJson(pool.dump());
  return options;
}

TEST(TestDaemonTest, StartsWatchesStopsAndLeavesNothing) {
  TestDaemon daemon;
  // Short enough for any socket name under it (108 bytes with the NUL).
  EXPECT_LT(daemon.dir().size(), 40u);
  ASSERT_TRUE(daemon.Start(PoolOptions(daemon, 2)).ok());
  ASSERT_TRUE(daemon.WaitUntilRunning().ok());
  absl::StatusOr<v1::ListWorkersResponse> workers = daemon.WaitForWorkers(2);
  ASSERT_TRUE(workers.ok()) << workers.status();
  EXPECT_EQ(workers->workers(0).name(), "w1");
  EXPECT_GT(workers->workers(1).current().pid(), 0);
  absl::StatusOr<v1::GuardianStatus> status = daemon.Status();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->guardian_pid(), daemon.guardian_pid());
  // The daemon's log is where Options() put it.
  EXPECT_TRUE(::appkit::testing::WaitFor([&] {
    struct stat st;
    return stat(daemon.Path("daemon.log").c_str(), &st) == 0 && st.st_size > 0;
  }));

  ASSERT_TRUE(daemon.Stop().ok());
  absl::Status left = daemon.CheckNothingLeft();
  EXPECT_TRUE(left.ok()) << left;
}

// A killed worker: WaitForRestarts returns once it runs again with a new
// pid (WaitForWorkers could still see the dead one RUNNING), and names what
// it saw when the restart never comes.
TEST(TestDaemonTest, WaitForRestartsSeesTheNewProcessAndSaysWhatItSawOtherwise) {
  TestDaemon daemon;
  ASSERT_TRUE(daemon.Start(PoolOptions(daemon, 2, /*restart_interval_ms=*/10)).ok());
  absl::StatusOr<v1::ListWorkersResponse> workers = daemon.WaitForWorkers(2);
  ASSERT_TRUE(workers.ok()) << workers.status();
  const int64_t killed = workers->workers(1).current().pid();
  ASSERT_EQ(kill(static_cast<pid_t>(killed), SIGKILL), 0);
  workers = daemon.WaitForRestarts(1, 1);
  ASSERT_TRUE(workers.ok()) << workers.status();
  EXPECT_NE(workers->workers(1).current().pid(), killed);
  EXPECT_EQ(workers->workers(0).restart_count(), 0);

  absl::StatusOr<v1::ListWorkersResponse> never =
      daemon.WaitForRestarts(0, 1, absl::Milliseconds(300));
  EXPECT_TRUE(absl::IsDeadlineExceeded(never.status())) << never.status();
  EXPECT_NE(never.status().message().find("worker 0 was not restarted 1 times"), std::string::npos)
      << never.status();
  EXPECT_NE(never.status().message().find("0 restarts, WORKER_STATE_RUNNING"), std::string::npos)
      << never.status();
  ASSERT_TRUE(daemon.Stop().ok());
}

// A daemon still running is reported, process by process, with its pid
// file and sockets; the destructor then stops it all and removes dir().
TEST(TestDaemonTest, CheckNothingLeftListsARunningDaemonAndTheDestructorStopsIt) {
  pid_t guardian = 0;
  int pidfd = -1;
  std::string dir;
  {
    TestDaemon daemon;
    dir = daemon.dir();
    ASSERT_TRUE(daemon.Start(PoolOptions(daemon, 1)).ok());
    ASSERT_TRUE(daemon.WaitForWorkers(1).ok());
    guardian = daemon.guardian_pid();
    pidfd = static_cast<int>(syscall(SYS_pidfd_open, guardian, 0));
    absl::Status left = daemon.CheckNothingLeft(absl::ZeroDuration());
    EXPECT_FALSE(left.ok());
    EXPECT_TRUE(Has(left, "process " + std::to_string(guardian))) << left;
    EXPECT_TRUE(Has(left, "pid file " + daemon.Path("daemon.pid"))) << left;
    EXPECT_TRUE(Has(left, "pid file " + daemon.Path("w1.pid"))) << left;
    EXPECT_TRUE(Has(left, "socket " + daemon.Path("daemon.pid.sock"))) << left;
  }
  ASSERT_GE(pidfd, 0);
  EXPECT_TRUE(::appkit::testing::WaitForExit(guardian, absl::Seconds(1)));
  close(pidfd);
  struct stat st;
  EXPECT_NE(stat(dir.c_str(), &st), 0) << dir << " was not removed";
}

// A process that is none of the daemon's but holds one of its files (what
// an entry's forgotten child would do) is found and named.
TEST(TestDaemonTest, CheckNothingLeftFindsAProcessHoldingAFileOfTheDirectory) {
  TestDaemon daemon;
  pid_t child = fork();
  if (child == 0) {
    int fd = open(daemon.Path("held.txt").c_str(), O_CREAT | O_WRONLY, 0600);
    if (fd >= 0) pause();
    _exit(1);
  }
  ASSERT_GT(child, 0);
  ASSERT_TRUE(::appkit::testing::WaitFor(
      [&] { return daemon.CheckNothingLeft(absl::ZeroDuration()).ok() == false; }));
  absl::Status left = daemon.CheckNothingLeft(absl::ZeroDuration());
  EXPECT_TRUE(Has(left, "process " + std::to_string(child))) << left;
  EXPECT_TRUE(Has(left, "holding " + daemon.Path("held.txt"))) << left;
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_TRUE(daemon.CheckNothingLeft().ok());
}

TEST(TestDaemonTest, StartFailureCarriesStartDaemonsReason) {
  TestDaemon daemon;
  absl::Status status = daemon.Start(daemon.Options(Module() + ":no_such_function"));
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(Has(status, "no_such_function")) << status;
  EXPECT_TRUE(daemon.CheckNothingLeft().ok());
}

TEST(TestDaemonTest, WaitsEndAtTheirDeadlineSayingWhatTheySaw) {
  TestDaemon daemon;
  absl::StatusOr<v1::ListWorkersResponse> before = daemon.WaitForWorkers(1, absl::Milliseconds(50));
  EXPECT_TRUE(Has(before.status(), "not started")) << before.status();
  DaemonOptions options = daemon.Options(Module() + ":run_until_quit");
  ASSERT_TRUE(daemon.Start(options).ok());
  ASSERT_TRUE(daemon.WaitUntilRunning().ok());
  absl::StatusOr<v1::ListWorkersResponse> workers =
      daemon.WaitForWorkers(1, absl::Milliseconds(200));
  EXPECT_EQ(workers.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(Has(workers.status(), "StartWorkers")) << workers.status();
  ASSERT_TRUE(daemon.Stop().ok());
  EXPECT_TRUE(daemon.CheckNothingLeft().ok());
}

}  // namespace
}  // namespace appkit
