// The attack suite (issue 11): each test is one attack, or one unlucky
// event, named as the sentence it proves; read the test names as a list.
// Real binaries, real processes, real signals, in a temp dir; attackers
// act as the user nobody; every test reaps what it started, even failing.
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/appkit.h"
#include "common/process/cgroup.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::FileExists;
using ::appkit::testing::LinesWithPrefix;
using ::appkit::testing::ProcessAlive;
using ::appkit::testing::ReadFileOrEmpty;
using ::appkit::testing::WaitFor;
using ::appkit::testing::WaitForExit;
using Json = nlohmann::json;

std::string Module() { return testing::RunfilePath("testing/libtest_module.so"); }

class EscapeFixture : public ::testing::Test {
 protected:
  void TearDown() override {
    for (pid_t pid : guardians_) {
      if (ProcessAlive(pid)) {
        kill(pid, SIGTERM);
        WaitForExit(pid, absl::Seconds(15));
      }
    }
    unsetenv(kCgroupModeEnv);
  }

  std::string File(const std::string& name) const { return dir_.File(name); }

  pid_t Launch(const DaemonOptions& options) {
    DaemonStartResult result = StartDaemon(options);
    EXPECT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
    if (!result.pid) return 0;
    guardians_.push_back(*result.pid);
    reaper_.Track(*result.pid);
    return *result.pid;
  }

  testing::TempDir dir_;
  testing::ProcessReaper reaper_;
  std::vector<pid_t> guardians_;
};

// ---------------------------------------------------------------------------
// Item 10: escaped processes die too. The entry escape_then_run (daemon or
// worker) double-forks a sleeper through setsid: it leaves the process
// group and is re-parented. With cgroups (root here and in CI; skipped,
// saying why, where cgroup2 is unusable) it dies at the restart of what
// started it, at the stop and at a SIGKILL of the guardian, and no cgroup
// is left; without (APPKIT_CGROUPS=off) at each executor exit and at the
// stop (README: "What appkit promises").

class EscapeAttackTest : public EscapeFixture {
 protected:
  // Whether this machine gives us cgroups; the reason when not.
  static std::string CgroupsUnusable() {
    auto own = OwnCgroupDir();
    if (!own.ok()) return std::string(own.status().message());
    auto probe = CreateCgroup(*own, absl::StrCat("appkit-attack-probe-", getpid()));
    if (!probe.ok()) return std::string(probe.status().message());
    rmdir(probe->c_str());
    return "";
  }

  // A daemon (in its own sub-directory) running escape_then_run, or a pool
  // of one worker "w1" running it; restarts after 100 ms.
  DaemonOptions Escaping(const std::string& name, bool in_worker, bool crash_once) {
    std::filesystem::create_directories(File(name));
    DaemonOptions options;
    options.pid_filename = File(name + "/d.pid");
    options.stderr_filename = File(name + "/err.txt");
    options.logging_config =
        *LoggingConfigFromJson(R"({"level": "DEBUG", "handlers": [{"file": {"filename": ")" +
                               File(name + "/app.log") + R"("}}]})");
    options.restart_interval = absl::Milliseconds(100);
    Json entry_args = {{"events", File(name + "/escape.events")}};
    if (crash_once) entry_args["crash_once"] = File(name + "/crashed");
    if (!in_worker) {
      options.daemon_entry = Module() + ":escape_then_run";
      options.daemon_args = *Args::FromJson(entry_args.dump());
      return options;
    }
    Json pool = {{"events", File(name + "/pool.events")},
                 {"restart_interval_ms", 100},
                 {"workers",
                  {{{"name", "w1"},
                    {"entry", Module() + ":escape_then_run"},
                    {"pid_filename", File(name + "/w1.pid")},
                    {"args", entry_args}}}}};
    options.daemon_entry = Module() + ":run_workers";
    options.daemon_args = *Args::FromJson(pool.dump());
    return options;
  }

  // The sleepers marked so far (tracked: killed at the end of the test).
  std::vector<pid_t> Escaped(const std::string& name) {
    std::vector<pid_t> pids;
    for (const std::string& line : LinesWithPrefix(File(name + "/escape.events"), "escaped=")) {
      int pid = 0;
      if (absl::SimpleAtoi(line.substr(8, line.find(' ') - 8), &pid) && pid > 0) {
        reaper_.Track(pid);
        pids.push_back(pid);
      }
    }
    return pids;
  }
  std::vector<pid_t> WaitEscaped(const std::string& name, size_t count) {
    std::vector<pid_t> pids;
    EXPECT_TRUE(WaitFor([&] { return (pids = Escaped(name)).size() >= count; }))
        << "fewer than " << count << " escapes; log:\n"
        << ReadFileOrEmpty(File(name + "/app.log")) << ReadFileOrEmpty(File(name + "/err.txt"));
    return pids;
  }

  std::string DaemonCgroup(const DaemonOptions& options, pid_t guardian) {
    auto own = OwnCgroupDir();
    return own.ok() ? *own + "/" + DaemonCgroupName(options.pid_filename, guardian) : "";
  }
  static std::string CgroupOf(pid_t pid) {
    return ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/cgroup");
  }

  // After the daemon is gone: no process, pid file or cgroup of it left.
  void ExpectNothingLeft(const DaemonOptions& options, pid_t guardian,
                         const std::vector<pid_t>& sleepers) {
    for (pid_t pid : sleepers) {
      EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(pid); }, absl::Seconds(5)))
          << "escaped process " << pid << " survived";
    }
    const std::string cgroup = DaemonCgroup(options, guardian);
    EXPECT_TRUE(WaitFor([&] { return !FileExists(cgroup); }, absl::Seconds(5)))
        << cgroup << " left behind";
    const std::string dir = options.pid_filename.substr(0, options.pid_filename.rfind('/'));
    for (const std::string& file : {options.pid_filename, dir + "/w1.pid"}) {
      EXPECT_TRUE(WaitFor([&] { return !FileExists(file); }, absl::Seconds(5)))
          << file << " left behind";
    }
  }
};

// A daemon's entry escapes its group; its executor crashes and is restarted,
// then the daemon stops: each escaped process dies with its run.
TEST_F(EscapeAttackTest, ADaemonsEscapedProcessDiesAtItsExecutorsRestartAndAtTheStop) {
  if (std::string why = CgroupsUnusable(); !why.empty()) GTEST_SKIP() << "no cgroup2: " << why;
  DaemonOptions options = Escaping("d", /*in_worker=*/false, /*crash_once=*/true);
  pid_t guardian = Launch(options);
  ASSERT_GT(guardian, 0);
  std::vector<pid_t> sleepers = WaitEscaped("d", 2);
  ASSERT_EQ(sleepers.size(), 2u);
  EXPECT_FALSE(ProcessAlive(sleepers[0])) << "the crashed run's escaped process survived";
  EXPECT_TRUE(ProcessAlive(sleepers[1])) << "the running one's was killed";
  EXPECT_TRUE(absl::StrContains(CgroupOf(sleepers[1]),
                                "/" + DaemonCgroupName(options.pid_filename, guardian) + "\n"))
      << CgroupOf(sleepers[1]);
  EXPECT_TRUE(absl::StrContains(ReadFileOrEmpty(File("d/app.log")), "leftover process"))
      << ReadFileOrEmpty(File("d/app.log"));
  kill(guardian, SIGTERM);
  ASSERT_TRUE(WaitForExit(guardian));
  ExpectNothingLeft(options, guardian, sleepers);
}

// A worker's entry escapes its group; the worker crashes and is restarted,
// then the daemon stops: each escaped process dies with its run.
TEST_F(EscapeAttackTest, AWorkersEscapedProcessDiesAtTheWorkersRestartAndAtTheStop) {
  if (std::string why = CgroupsUnusable(); !why.empty()) GTEST_SKIP() << "no cgroup2: " << why;
  DaemonOptions options = Escaping("w", /*in_worker=*/true, /*crash_once=*/true);
  pid_t guardian = Launch(options);
  ASSERT_GT(guardian, 0);
  std::vector<pid_t> sleepers = WaitEscaped("w", 2);
  ASSERT_EQ(sleepers.size(), 2u);
  EXPECT_FALSE(ProcessAlive(sleepers[0])) << "the crashed worker's escaped process survived";
  EXPECT_TRUE(ProcessAlive(sleepers[1])) << "the running worker's was killed";
  EXPECT_TRUE(absl::StrContains(CgroupOf(sleepers[1]), "/appkit-pool-")) << CgroupOf(sleepers[1]);
  EXPECT_TRUE(absl::StrContains(CgroupOf(sleepers[1]), "/w0-w1\n")) << CgroupOf(sleepers[1]);
  EXPECT_TRUE(absl::StrContains(ReadFileOrEmpty(File("w/app.log")), "left 1 process behind"))
      << ReadFileOrEmpty(File("w/app.log"));
  kill(guardian, SIGTERM);
  ASSERT_TRUE(WaitForExit(guardian));
  ExpectNothingLeft(options, guardian, sleepers);
}

// The guardian is SIGKILLed while a daemon's entry and a worker's entry
// have escaped processes: the survivors kill them and remove the cgroups.
TEST_F(EscapeAttackTest, EscapedProcessesDieWhenTheGuardianIsSigkilled) {
  if (std::string why = CgroupsUnusable(); !why.empty()) GTEST_SKIP() << "no cgroup2: " << why;
  DaemonOptions daemon = Escaping("d", /*in_worker=*/false, /*crash_once=*/false);
  DaemonOptions pool = Escaping("w", /*in_worker=*/true, /*crash_once=*/false);
  pid_t daemon_guardian = Launch(daemon);
  pid_t pool_guardian = Launch(pool);
  ASSERT_GT(daemon_guardian, 0);
  ASSERT_GT(pool_guardian, 0);
  std::vector<pid_t> daemon_sleepers = WaitEscaped("d", 1);
  std::vector<pid_t> pool_sleepers = WaitEscaped("w", 1);
  ASSERT_TRUE(FileExists(DaemonCgroup(pool, pool_guardian)));
  kill(daemon_guardian, SIGKILL);
  kill(pool_guardian, SIGKILL);
  ExpectNothingLeft(daemon, daemon_guardian, daemon_sleepers);
  ExpectNothingLeft(pool, pool_guardian, pool_sleepers);
}

// The executor running a pool is SIGKILLed: the guardian lets the pool's
// fork server clean up, kills what the worker's entry left and restarts.
TEST_F(EscapeAttackTest, AWorkersEscapedProcessDiesWhenItsExecutorIsSigkilled) {
  if (std::string why = CgroupsUnusable(); !why.empty()) GTEST_SKIP() << "no cgroup2: " << why;
  DaemonOptions options = Escaping("w", /*in_worker=*/true, /*crash_once=*/false);
  pid_t guardian = Launch(options);
  ASSERT_GT(guardian, 0);
  std::vector<pid_t> sleepers = WaitEscaped("w", 1);
  pid_t executor = testing::PidOfEvent(File("w/pool.events"), "pool_starting");
  ASSERT_GT(executor, 0);
  const std::string old_pool = DaemonCgroup(options, guardian) + "/" + PoolCgroupName(executor);
  ASSERT_TRUE(FileExists(old_pool));
  kill(executor, SIGKILL);
  sleepers = WaitEscaped("w", 2);
  ASSERT_EQ(sleepers.size(), 2u);
  EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(sleepers[0]); }, absl::Seconds(5)))
      << "the killed executor's worker's escaped process survived";
  EXPECT_FALSE(FileExists(old_pool)) << old_pool << " left behind";
  EXPECT_TRUE(ProcessAlive(sleepers[1]));
  kill(guardian, SIGTERM);
  ASSERT_TRUE(WaitForExit(guardian));
  ExpectNothingLeft(options, guardian, sleepers);
}

// StartWorkers in a plain process (no daemon) that is SIGKILLed while a
// worker's entry has an escaped process: the pool's fork server kills it,
// removes the worker's pid file and the pool's cgroup.
TEST_F(EscapeAttackTest, AWorkersEscapedProcessDiesWhenAPlainControllerIsSigkilled) {
  if (std::string why = CgroupsUnusable(); !why.empty()) GTEST_SKIP() << "no cgroup2: " << why;
  std::filesystem::create_directories(File("p"));
  pid_t controller = fork();
  if (controller == 0) {
    WorkerStartInfo info;
    info.name = "w1";
    info.entry = Module() + ":escape_then_run";
    info.pid_filename = File("p/w1.pid");
    info.args.Set("events", File("p/escape.events"));
    _exit(StartWorkers({info}, WorkersOptions()).ok() ? 0 : 1);
  }
  reaper_.Track(controller);
  std::vector<pid_t> sleepers = WaitEscaped("p", 1);
  const std::string pool = *OwnCgroupDir() + "/" + PoolCgroupName(controller);
  EXPECT_TRUE(FileExists(pool));
  kill(controller, SIGKILL);
  ASSERT_EQ(waitpid(controller, nullptr, 0), controller);
  for (pid_t pid : sleepers) {
    EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(pid); }, absl::Seconds(5)))
        << "escaped process " << pid << " survived";
  }
  EXPECT_TRUE(WaitFor([&] { return !FileExists(pool); }, absl::Seconds(5))) << pool << " left";
  EXPECT_TRUE(WaitFor([&] { return !FileExists(File("p/w1.pid")); }, absl::Seconds(5)));
}

// Without cgroups: a daemon's entry escapes its group; its executor
// crashes and is restarted, then the daemon stops.
TEST_F(EscapeAttackTest,
       WithoutCgroupsADaemonsEscapedProcessDiesAtItsExecutorsRestartAndAtTheStop) {
  setenv(kCgroupModeEnv, "off", 1);
  DaemonOptions options = Escaping("d", /*in_worker=*/false, /*crash_once=*/true);
  pid_t guardian = Launch(options);
  ASSERT_GT(guardian, 0);
  std::vector<pid_t> sleepers = WaitEscaped("d", 2);
  ASSERT_EQ(sleepers.size(), 2u);
  EXPECT_FALSE(ProcessAlive(sleepers[0])) << "the crashed run's escaped process survived";
  EXPECT_TRUE(ProcessAlive(sleepers[1])) << "the running one's was killed";
  EXPECT_FALSE(FileExists(DaemonCgroup(options, guardian))) << "a cgroup with APPKIT_CGROUPS=off";
  kill(guardian, SIGTERM);
  ASSERT_TRUE(WaitForExit(guardian));
  ExpectNothingLeft(options, guardian, sleepers);
}

// Without cgroups: a worker's entry escapes its group; its executor is
// SIGKILLed and restarted, then the daemon stops. (A worker's own restart
// does not find what it left: README.)
TEST_F(EscapeAttackTest,
       WithoutCgroupsAWorkersEscapedProcessDiesAtItsExecutorsRestartAndAtTheStop) {
  setenv(kCgroupModeEnv, "off", 1);
  DaemonOptions options = Escaping("w", /*in_worker=*/true, /*crash_once=*/false);
  pid_t guardian = Launch(options);
  ASSERT_GT(guardian, 0);
  std::vector<pid_t> sleepers = WaitEscaped("w", 1);
  pid_t executor = testing::PidOfEvent(File("w/pool.events"), "pool_starting");
  ASSERT_GT(executor, 0);
  kill(executor, SIGKILL);
  sleepers = WaitEscaped("w", 2);
  ASSERT_EQ(sleepers.size(), 2u);
  EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(sleepers[0]); }, absl::Seconds(5)))
      << "the killed executor's worker's escaped process survived";
  EXPECT_TRUE(ProcessAlive(sleepers[1]));
  kill(guardian, SIGTERM);
  ASSERT_TRUE(WaitForExit(guardian));
  ExpectNothingLeft(options, guardian, sleepers);
}

}  // namespace
}  // namespace appkit
