// Low RLIMIT_NOFILE (issue 11, item 12): with the limit set low (soft and
// hard) in the calling process, StartDaemon either works (the entry runs, a
// pool of workers runs, stop completes) or fails at once with an error
// naming RLIMIT_NOFILE and leaving nothing behind; StartWorkers refuses a
// pool that cannot fit. User code (the entry, the workers) sees the limit
// its starter had, while appkit's own processes raise theirs.
//
// Each case forks a child that lowers its limit and calls StartDaemon (or
// StartWorkers) there, and reports the result through a pipe.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/appkit.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::FileExists;
using ::appkit::testing::LinesWithPrefix;
using ::appkit::testing::PidOfEvent;
using ::appkit::testing::ProcessAlive;
using ::appkit::testing::WaitFor;
using ::appkit::testing::WaitForExit;
using Json = nlohmann::json;

std::string Module() { return testing::RunfilePath("testing/libtest_module.so"); }

std::set<std::string> Listing(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.insert(entry.path().filename());
  }
  return names;
}

// Runs `run` in a child whose RLIMIT_NOFILE is {soft, hard}; returns what
// it wrote (the child exits when `run` returns).
std::string InChildWithFdLimit(rlim_t soft, rlim_t hard, const std::function<std::string()>& run) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    rlimit limit = {soft, hard};
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) _exit(3);
    std::string report = run();
    (void)!write(out[1], report.data(), report.size());
    _exit(0);
  }
  close(out[1]);
  std::string report;
  char buf[4096];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof(buf))) > 0) report.append(buf, n);
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  return report;
}

// The soft and hard "Max open files" of a live process.
std::string LimitsOf(pid_t pid) {
  std::ifstream limits("/proc/" + std::to_string(pid) + "/limits");
  std::string line;
  while (std::getline(limits, line)) {
    if (line.rfind("Max open files", 0) != 0) continue;
    std::istringstream fields(line.substr(strlen("Max open files")));
    std::string soft, hard;
    fields >> soft >> hard;
    return soft + "/" + hard;
  }
  return "";
}

class FdLimitTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (pid_t pid : guardians_) {
      if (ProcessAlive(pid)) {
        kill(pid, SIGTERM);
        WaitForExit(pid, absl::Seconds(15));
      }
    }
  }

  // A daemon whose entry records its limit, then runs a pool of `workers`
  // workers that record theirs.
  DaemonOptions DaemonWithPool(int workers) {
    DaemonOptions options;
    options.pid_filename = dir_.File("d.pid");
    options.daemon_entry = Module() + ":record_fd_limit_then_workers";
    options.stderr_filename = dir_.File("err.txt");
    Json pool = {{"events", dir_.File("pool.events")}, {"workers", Json::array()}};
    for (int i = 0; i < workers; ++i) {
      const std::string name = absl::StrCat("w", i);
      pool["workers"].push_back({{"name", name},
                                 {"entry", Module() + ":record_fd_limit"},
                                 {"pid_filename", dir_.File(name + ".pid")},
                                 {"args", {{"events", dir_.File(name + ".events")}}}});
    }
    options.daemon_args = *Args::FromJson(pool.dump());
    return options;
  }

  // StartDaemon in a child limited to {soft, hard}: "launched <pid>",
  // "running <pid>" or "failed <error>".
  std::string StartWithFdLimit(rlim_t soft, rlim_t hard, const DaemonOptions& options) {
    std::string report = InChildWithFdLimit(soft, hard, [&] {
      DaemonStartResult result = StartDaemon(options);
      switch (result.status) {
        case DaemonRunStatus::kLaunched:
          return absl::StrCat("launched ", *result.pid);
        case DaemonRunStatus::kAlreadyRunning:
          return absl::StrCat("running ", *result.pid);
        case DaemonRunStatus::kLaunchFailed:
          return "failed " + result.error;
      }
      return std::string("?");
    });
    if (absl::StartsWith(report, "launched ")) {
      pid_t guardian = std::stoi(report.substr(9));
      guardians_.push_back(guardian);
      reaper_.Track(guardian);
    }
    return report;
  }

  // Runs a daemon with a pool of three under {soft, hard}: everything runs,
  // user code sees `soft`, and stop completes with nothing left.
  void ExpectDaemonWorks(rlim_t soft, rlim_t hard) {
    SCOPED_TRACE(absl::StrCat("RLIMIT_NOFILE ", soft, "/", hard));
    std::string report = StartWithFdLimit(soft, hard, DaemonWithPool(3));
    ASSERT_TRUE(absl::StartsWith(report, "launched ")) << report;
    const pid_t guardian = guardians_.back();
    const std::string user_limit = absl::StrCat("nofile=", soft, "/", hard);
    ASSERT_TRUE(WaitFor([&] {
      for (int i = 0; i < 3; ++i) {
        if (PidOfEvent(dir_.File(absl::StrCat("w", i, ".events")), "started") == 0) return false;
      }
      return true;
    })) << "not every worker started; stderr: "
        << testing::ReadFileOrEmpty(dir_.File("err.txt"));
    EXPECT_NE(PidOfEvent(dir_.File("pool.events"), user_limit), 0) << "the entry's limit";
    for (int i = 0; i < 3; ++i) {
      const std::string events = dir_.File(absl::StrCat("w", i, ".events"));
      reaper_.Track(PidOfEvent(events, "started"));
      EXPECT_NE(PidOfEvent(events, user_limit), 0) << "worker " << i << "'s limit";
    }
    // appkit's own process raised its soft limit to the hard one.
    EXPECT_EQ(LimitsOf(guardian), absl::StrCat(hard, "/", hard));

    kill(guardian, SIGTERM);
    EXPECT_TRUE(WaitForExit(guardian, absl::Seconds(15)));
    EXPECT_FALSE(FileExists(dir_.File("d.pid")));
    for (int i = 0; i < 3; ++i) {
      EXPECT_FALSE(ProcessAlive(PidOfEvent(dir_.File(absl::StrCat("w", i, ".events")), "started")));
    }
  }

  testing::TempDir dir_;
  testing::ProcessReaper reaper_;
  std::vector<pid_t> guardians_;
};

TEST_F(FdLimitTest, At20StartDaemonFailsNamingTheLimitAndLeavesNothing) {
  const std::set<std::string> before = Listing(dir_.path());
  std::string report = StartWithFdLimit(20, 20, DaemonWithPool(3));
  EXPECT_EQ(report,
            "failed RLIMIT_NOFILE is 20 (hard limit 20); appkit needs at least 32 open files for "
            "a daemon: raise the limit (ulimit -n 32, or LimitNOFILE= under systemd)");
  EXPECT_EQ(Listing(dir_.path()), before);
}

TEST_F(FdLimitTest, At32ADaemonWithAPoolRuns) { ExpectDaemonWorks(32, 32); }

TEST_F(FdLimitTest, At64ADaemonWithAPoolRuns) { ExpectDaemonWorks(64, 64); }

TEST_F(FdLimitTest, At127ADaemonWithAPoolRuns) { ExpectDaemonWorks(127, 127); }

// A low soft limit under a higher hard one: appkit raises its own, the
// entry and the workers keep the low one.
TEST_F(FdLimitTest, ALowSoftLimitIsRaisedForAppkitOnly) { ExpectDaemonWorks(20, 4096); }

// A pool that cannot fit in the limit: StartWorkers in the daemon's entry
// refuses it before any worker starts, naming the limit.
TEST_F(FdLimitTest, APoolTooBigForTheLimitIsRefusedInTheEntry) {
  std::string report = StartWithFdLimit(32, 32, DaemonWithPool(12));
  ASSERT_TRUE(absl::StartsWith(report, "launched ")) << report;
  const pid_t guardian = guardians_.back();
  ASSERT_TRUE(WaitFor([&] {
    return !LinesWithPrefix(dir_.File("pool.events"), "pool_error").empty();
  })) << testing::ReadFileOrEmpty(dir_.File("pool.events"));
  const std::string error = LinesWithPrefix(dir_.File("pool.events"), "pool_error")[0];
  EXPECT_TRUE(absl::StrContains(error,
                                "RLIMIT_NOFILE is 32 (hard limit 32); appkit needs at "
                                "least "))
      << error;
  EXPECT_TRUE(absl::StrContains(error, "for a pool of 12 workers")) << error;
  for (int i = 0; i < 12; ++i) {
    EXPECT_FALSE(FileExists(dir_.File(absl::StrCat("w", i, ".events")))) << i;
  }
  // No restart_interval: the entry's error ends the daemon.
  EXPECT_TRUE(WaitForExit(guardian, absl::Seconds(15)));
  EXPECT_FALSE(FileExists(dir_.File("d.pid")));
}

// The same from a plain process: StartWorkers returns FailedPrecondition.
TEST_F(FdLimitTest, StartWorkersRefusesAPoolTooBigForTheLimit) {
  std::string report = InChildWithFdLimit(32, 32, [&] {
    std::vector<WorkerStartInfo> workers;
    for (int i = 0; i < 12; ++i) {
      WorkerStartInfo worker;
      worker.name = absl::StrCat("w", i);
      worker.entry = Module() + ":record_fd_limit";
      worker.pid_filename = dir_.File(worker.name + ".pid");
      workers.push_back(worker);
    }
    absl::Status status = StartWorkers(workers, WorkersOptions());
    return absl::StrCat(absl::StatusCodeToString(status.code()), ": ", status.message());
  });
  EXPECT_TRUE(absl::StartsWith(report, "FAILED_PRECONDITION: RLIMIT_NOFILE is 32 (hard limit 32)"))
      << report;
  EXPECT_TRUE(absl::StrContains(report, "for a pool of 12 workers")) << report;
  EXPECT_TRUE(Listing(dir_.path()).empty());
}

}  // namespace
}  // namespace appkit
