// appkitctl against real daemons: every command, the error cases, and the
// daemons.yaml workflow end to end. The CLI runs as a separate process.
#include <signal.h>
#include <unistd.h>

#include <fstream>

#include "client/appkit.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::CommandResult;
using ::appkit::testing::FileExists;
using ::appkit::testing::PidOfEvent;
using ::appkit::testing::ProcessAlive;
using ::appkit::testing::ReadFileOrEmpty;
using ::appkit::testing::WaitFor;
using ::appkit::testing::WaitForExit;
using Json = nlohmann::json;

std::string Module() { return testing::RunfilePath("testing/libtest_module.so"); }

CommandResult Ctl(std::vector<std::string> args) {
  args.insert(args.begin(), testing::RunfilePath("client/appkitctl"));
  return testing::RunCommand(args);
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class AppkitctlTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (pid_t pid : guardians_) {
      if (ProcessAlive(pid)) {
        kill(pid, SIGTERM);
        WaitForExit(pid, absl::Seconds(15));
      }
    }
  }

  // A daemon running a pool of two workers (or a plain entry).
  pid_t StartDaemonWithWorkers(bool workers = true) {
    DaemonOptions options;
    options.pid_filename = pid_file();
    if (workers) {
      Json pool = {{"events", dir_.File("pool.events")}, {"workers", Json::array()}};
      for (const char* name : {"w1", "w2"}) {
        pool["workers"].push_back(
            {{"name", name},
             {"entry", Module() + ":run_until_quit"},
             {"pid_filename", dir_.File(std::string(name) + ".pid")},
             {"args", {{"events", dir_.File(std::string(name) + ".events")}}}});
      }
      options.daemon_entry = Module() + ":run_workers";
      options.daemon_args = *Args::FromJson(pool.dump());
    } else {
      options.daemon_entry = Module() + ":run_until_quit";
      options.daemon_args.Set("events", dir_.File("pool.events"));
    }
    DaemonStartResult result = StartDaemon(options);
    EXPECT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
    if (!result.pid) return 0;
    guardians_.push_back(*result.pid);
    reaper_.Track(*result.pid);
    if (workers) {
      WaitFor([&] {
        return PidOfEvent(dir_.File("w1.events"), "started") != 0 &&
               PidOfEvent(dir_.File("w2.events"), "started") != 0;
      });
      for (const char* name : {"w1", "w2"}) {
        reaper_.Track(PidOfEvent(dir_.File(std::string(name) + ".events"), "started"));
      }
    }
    return *result.pid;
  }

  std::string pid_file() const { return dir_.File("d.pid"); }

  testing::TempDir dir_;
  testing::ProcessReaper reaper_;
  std::vector<pid_t> guardians_;
};

TEST_F(AppkitctlTest, StatusOfARunningDaemon) {
  pid_t guardian = StartDaemonWithWorkers();
  ASSERT_GT(guardian, 0);
  // 0 once the entry runs (4 while it still starts).
  CommandResult table;
  EXPECT_TRUE(WaitFor([&] {
    table = Ctl({"status", "--pid-file", pid_file()});
    return table.exit_code == 0;
  })) << table.exit_code
      << table.err;
  EXPECT_TRUE(Has(table.out, "running")) << table.out;
  EXPECT_TRUE(Has(table.out, "pid " + std::to_string(guardian))) << table.out;
  EXPECT_TRUE(Has(table.out, "d.pid.workers.sock")) << table.out;

  CommandResult json = Ctl({"status", "--pid-file", pid_file(), "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  Json status = Json::parse(json.out);
  EXPECT_EQ(status["guardianPid"], guardian);  // a JSON number (proto JSON would say a string)
  EXPECT_EQ(status["restartCount"], 0);
}

TEST_F(AppkitctlTest, StatusWithoutADaemon) {
  CommandResult result = Ctl({"status", "--pid-file", pid_file()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_TRUE(Has(result.err, "no daemon is running for " + pid_file())) << result.err;
  EXPECT_TRUE(Has(result.err, "no pid file")) << result.err;
  CommandResult json = Ctl({"status", "--pid-file", pid_file(), "--json"});
  EXPECT_EQ(json.exit_code, 3);
  EXPECT_EQ(Json::parse(json.out)["running"], false);
}

TEST_F(AppkitctlTest, StatusWithAStalePidFile) {
  pid_t dead = fork();
  if (dead == 0) _exit(0);
  WaitForExit(dead);
  waitpid(dead, nullptr, 0);
  std::ofstream(pid_file()) << dead << "\n";
  CommandResult result = Ctl({"status", "--pid-file", pid_file()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_TRUE(Has(result.err, "stale pid file")) << result.err;
  // stop on a daemon that is not running: exit 0, and says so.
  CommandResult stop = Ctl({"stop", "--pid-file", pid_file()});
  EXPECT_EQ(stop.exit_code, 0);
  EXPECT_TRUE(Has(stop.out, "not running")) << stop.out;
}

TEST_F(AppkitctlTest, StatusWithAWrongPath) {
  const std::string missing = dir_.File("missing");
  CommandResult result = Ctl({"status", "--pid-file", missing + "/d.pid"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_TRUE(Has(result.err, missing + " does not exist")) << result.err;
}

TEST_F(AppkitctlTest, RefusedSocketIsAnErrorNamingIt) {
  ASSERT_GT(StartDaemonWithWorkers(false), 0);
  const std::string wrong = dir_.File("wrong.sock");
  for (const char* command : {"status", "workers", "debug"}) {
    CommandResult result = Ctl({command, "--pid-file", pid_file(), "--socket", wrong});
    EXPECT_EQ(result.exit_code, 1) << command;
    EXPECT_TRUE(Has(result.err, "socket " + wrong + " refused")) << command << ": " << result.err;
  }
}

TEST_F(AppkitctlTest, WorkersAndDebug) {
  ASSERT_GT(StartDaemonWithWorkers(), 0);
  CommandResult table;
  ASSERT_TRUE(WaitFor([&] {
    table = Ctl({"workers", "--pid-file", pid_file()});
    return table.exit_code == 0 && Has(table.out, "w2") &&
           table.out.find("RUNNING") != table.out.rfind("RUNNING");  // two rows RUNNING
  })) << table.out
      << table.err;
  EXPECT_TRUE(Has(table.out, "NAME")) << table.out;
  EXPECT_TRUE(Has(table.out, std::to_string(PidOfEvent(dir_.File("w1.events"), "started"))));

  CommandResult json = Ctl({"workers", "--pid-file", pid_file(), "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(Json::parse(json.out)["workers"].size(), 2u);

  CommandResult debug = Ctl({"debug", "--pid-file", pid_file()});
  ASSERT_EQ(debug.exit_code, 0) << debug.err;
  Json snapshot = Json::parse(debug.out);
  ASSERT_EQ(snapshot["worker_info_list"].size(), 2u);
  EXPECT_EQ(snapshot["worker_info_list"][1]["name"], "w2");
}

TEST_F(AppkitctlTest, WorkersOfADaemonWithoutAPool) {
  ASSERT_GT(StartDaemonWithWorkers(false), 0);
  CommandResult result = Ctl({"workers", "--pid-file", pid_file()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(Has(result.err, "runs no worker pool")) << result.err;
}

TEST_F(AppkitctlTest, StopEndsTheDaemonAndWaits) {
  pid_t guardian = StartDaemonWithWorkers();
  ASSERT_GT(guardian, 0);
  pid_t w1 = PidOfEvent(dir_.File("w1.events"), "started");
  CommandResult result = Ctl({"stop", "--pid-file", pid_file(), "--timeout", "10s"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(Has(result.out, "stopped daemon (guardian " + std::to_string(guardian)));
  // stop returns once the guardian is gone: the whole tree went with it.
  EXPECT_FALSE(ProcessAlive(guardian));
  EXPECT_FALSE(ProcessAlive(w1));
  EXPECT_FALSE(FileExists(pid_file()));
  CommandResult again = Ctl({"stop", "--pid-file", pid_file()});
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_TRUE(Has(again.out, "not running"));
}

TEST_F(AppkitctlTest, UsageErrors) {
  EXPECT_EQ(Ctl({}).exit_code, 2);
  EXPECT_EQ(Ctl({"status"}).exit_code, 2);
  CommandResult unknown = Ctl({"frobnicate", "--pid-file", pid_file()});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_TRUE(Has(unknown.err, "frobnicate"));
}

// The daemons.yaml workflow: a mordor file, unchanged.
class AppkitctlConfigTest : public AppkitctlTest {
 protected:
  void SetUp() override {
    // Modules are found next to the config file: libdemo1.so there.
    ASSERT_EQ(symlink(Module().c_str(), dir_.File("libdemo1.so").c_str()), 0);
    ASSERT_EQ(symlink(Module().c_str(), dir_.File("libcrashy.so").c_str()), 0);
  }

  void WriteConfig(const std::string& text) { std::ofstream(config()) << text; }
  std::string config() const { return dir_.File("daemons.yaml"); }

  CommandResult Run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--config", config()});
    return Ctl(args);
  }

  void TearDown() override {
    for (const char* name : {"demo1", "crashy"}) Run({"stop", name});
  }
};

TEST_F(AppkitctlConfigTest, StartListStatusStopWithRestartCounting) {
  WriteConfig(
      "demo1:\n"
      "  args:\n"
      "    events: " +
      dir_.File("demo1.events") +
      "\n"
      "    x: 1\n"
      "  restart_interval_seconds: null\n"
      "crashy:\n"
      "  entry: crashy:fail_fast\n"
      "  restart_interval_seconds: 0.05\n");
  CommandResult list = Run({"list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_TRUE(Has(list.out, "demo1")) << list.out;
  EXPECT_FALSE(Has(list.out, "RUNNING")) << list.out;

  CommandResult start = Run({"start", "demo1"});
  ASSERT_EQ(start.exit_code, 0) << start.err;
  EXPECT_TRUE(Has(start.out, "started demo1")) << start.out;
  const std::string state = dir_.File("appkit-state/demo1");
  pid_t guardian = 0;
  ASSERT_TRUE(WaitFor([&] {
    std::string pid = ReadFileOrEmpty(state + "/demo1.pid");
    return !pid.empty() && (guardian = std::stoi(pid)) > 0;
  }));
  reaper_.Track(guardian);
  ASSERT_TRUE(WaitFor([&] { return PidOfEvent(dir_.File("demo1.events"), "started") != 0; }))
      << ReadFileOrEmpty(state + "/demo1-err.txt");
  EXPECT_TRUE(
      WaitFor([&] { return Has(ReadFileOrEmpty(state + "/demo1.log"), "daemon_entry running"); }));

  CommandResult again = Run({"start", "demo1"});
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_TRUE(Has(again.out, "already running (guardian pid " + std::to_string(guardian)))
      << again.out;

  list = Run({"list"});
  EXPECT_TRUE(Has(list.out, std::to_string(guardian))) << list.out;
  EXPECT_TRUE(Has(list.out, "RUNNING")) << list.out;
  EXPECT_TRUE(WaitFor([&] { return Run({"status", "demo1"}).exit_code == 0; }));

  // A crashing daemon restarts every 50 ms: its restarts are counted.
  ASSERT_EQ(Run({"start", "crashy"}).exit_code, 0);
  EXPECT_TRUE(WaitFor([&] {
    CommandResult status = Run({"status", "crashy", "--json"});
    return status.exit_code == 0 && Json::parse(status.out)["restartCount"].get<int>() >= 2;
  }));
  std::string crashy_pid = ReadFileOrEmpty(dir_.File("appkit-state/crashy/crashy.pid"));
  if (!crashy_pid.empty()) reaper_.Track(std::stoi(crashy_pid));

  CommandResult stop = Run({"stop", "demo1"});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_FALSE(ProcessAlive(guardian));
  EXPECT_FALSE(FileExists(state + "/demo1.pid"));
  CommandResult stop_again = Run({"stop", "demo1"});
  EXPECT_EQ(stop_again.exit_code, 0);
  EXPECT_TRUE(Has(stop_again.out, "not running"));
  EXPECT_EQ(Run({"status", "demo1"}).exit_code, 3);
  EXPECT_EQ(Run({"stop", "crashy"}).exit_code, 0);
}

// Under `bazel run` appkitctl runs in its runfiles tree: relative paths
// mean the directory bazel was run from (BUILD_WORKING_DIRECTORY).
TEST_F(AppkitctlConfigTest, RelativePathsMeanTheBuildWorkingDirectory) {
  WriteConfig("demo1:\n  args:\n    events: " + dir_.File("demo1.events") + "\n");
  setenv("BUILD_WORKING_DIRECTORY", dir_.path().c_str(), 1);
  CommandResult start = Ctl({"--config", "daemons.yaml", "start", "demo1"});
  CommandResult status = Ctl({"status", "--pid-file", "appkit-state/demo1/demo1.pid"});
  CommandResult stop = Ctl({"--config", "daemons.yaml", "stop", "demo1"});
  unsetenv("BUILD_WORKING_DIRECTORY");
  EXPECT_EQ(start.exit_code, 0) << start.err;
  EXPECT_TRUE(Has(start.out, "files in " + dir_.File("appkit-state/demo1"))) << start.out;
  // Found and running: 0 once the entry runs, 4 while it is still starting.
  EXPECT_TRUE(status.exit_code == 0 || status.exit_code == 4) << status.exit_code << status.err;
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_TRUE(Has(stop.out, "stopped daemon")) << stop.out;
  EXPECT_FALSE(FileExists(dir_.File("appkit-state/demo1/demo1.pid")));
}

TEST_F(AppkitctlConfigTest, BadConfigNamesFileLineAndKey) {
  WriteConfig(
      "demo1:\n"
      "  args: {x: 1}\n"
      "  restart_intervall_seconds: 5\n");
  CommandResult result = Run({"list"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(Has(result.err, config() + ":3")) << result.err;
  EXPECT_TRUE(Has(result.err, "restart_intervall_seconds")) << result.err;

  WriteConfig("demo1:\n  restart_interval_seconds: -1\n");
  result = Run({"start", "demo1"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(Has(result.err, "restart_interval_seconds")) << result.err;
  EXPECT_TRUE(Has(result.err, config() + ":2")) << result.err;

  WriteConfig("demo1: [not, a, mapping\n");
  result = Run({"list"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(Has(result.err, "not valid YAML")) << result.err;

  // Odd shapes are errors, never a crash.
  for (const std::string text :
       {"[a]: {}\n", "demo1:\n  {x: 1}: 2\n", "demo1:\n  args:\n    s: \"\xe9\"\n"}) {
    WriteConfig(text);
    result = Run({"list"});
    EXPECT_EQ(result.exit_code, 1) << text << result.err;
    EXPECT_TRUE(Has(result.err, config())) << text << result.err;
  }
}

TEST_F(AppkitctlConfigTest, UnknownDaemonAndMissingModule) {
  WriteConfig("demo1:\n  args: {}\nnomodule:\n  args: {}\n");
  CommandResult unknown = Run({"start", "nope"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_TRUE(Has(unknown.err, "no daemon named 'nope'")) << unknown.err;
  EXPECT_TRUE(Has(unknown.err, "demo1, nomodule")) << unknown.err;
  CommandResult missing = Run({"start", "nomodule"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(Has(missing.err, "nomodule")) << missing.err;
  // A failed start leaves nothing behind, not even the daemon's directory.
  EXPECT_FALSE(FileExists(dir_.File("appkit-state/nomodule")));
  // Nor does a name that is fine but makes the socket path too long.
  const std::string long_name(60, 'n');
  WriteConfig(long_name + ":\n  entry: demo1:run_until_quit\n");
  CommandResult too_long = Run({"start", long_name});
  EXPECT_EQ(too_long.exit_code, 1);
  EXPECT_TRUE(Has(too_long.err, "socket")) << too_long.err;
  EXPECT_FALSE(FileExists(dir_.File("appkit-state/" + long_name)));
  // An unknown name is shown escaped, never written raw to the terminal.
  CommandResult escaped = Run({"start", "a\x1b[2Jb"});
  EXPECT_TRUE(Has(escaped.err, "'a\\x1b[2Jb'")) << escaped.err;
}

}  // namespace
}  // namespace appkit

namespace appkit {
namespace {

// SPEC §8 through appkitctl: a crash-looping daemon shows FATAL and the
// entry's error in `status`, a crash-looping worker in `workers` (table and
// --json); `restart --pid-file` leaves FATAL.
TEST_F(AppkitctlTest, CrashLoopsShowFatalAndTheErrorAndRestartLeavesFatal) {
  DaemonOptions options;
  options.pid_filename = pid_file();
  options.daemon_entry = Module() + ":fail_fast";
  options.daemon_args.Set("events", dir_.File("d.events"));
  options.restart_interval = absl::Milliseconds(10);
  options.restart_policy.max_restarts = 1;
  DaemonStartResult result = StartDaemon(options);
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
  guardians_.push_back(*result.pid);
  reaper_.Track(*result.pid);
  CommandResult status;
  ASSERT_TRUE(WaitFor([&] {
    status = Ctl({"status", "--pid-file", pid_file()});
    return Has(status.out, "FATAL");
  })) << status.out
      << status.err;
  printf("$ appkitctl status --pid-file d.pid\n%s", status.out.c_str());
  EXPECT_TRUE(Has(status.out, "INTERNAL: fail_fast always fails")) << status.out;
  CommandResult json = Ctl({"status", "--pid-file", pid_file(), "--json"});
  Json parsed = Json::parse(json.out);
  EXPECT_EQ(parsed["state"], "GUARDIAN_STATE_FATAL");
  EXPECT_EQ(parsed["consecutiveFailures"], 2);
  EXPECT_EQ(parsed["history"][0]["error"], "INTERNAL: fail_fast always fails");

  CommandResult restart = Ctl({"restart", "--pid-file", pid_file()});
  EXPECT_EQ(restart.exit_code, 0) << restart.err;
  EXPECT_TRUE(Has(restart.out, "restarting daemon (guardian")) << restart.out;
  EXPECT_TRUE(WaitFor([&] {
    CommandResult again = Ctl({"status", "--pid-file", pid_file(), "--json"});
    // Running again (exit 4 while it fails and restarts, 0 if ready).
    return again.exit_code != 3 && Json::parse(again.out)["restartCount"].get<int>() >= 2;
  }));
}

TEST_F(AppkitctlTest, WorkersShowAFatalWorkerAndItsError) {
  DaemonOptions options;
  options.pid_filename = pid_file();
  Json pool = {{"events", dir_.File("pool.events")},
               {"restart_interval_ms", 10},
               {"max_restarts", 1},
               {"workers", Json::array()}};
  pool["workers"].push_back({{"name", "bad"},
                             {"entry", Module() + ":fail_fast"},
                             {"pid_filename", dir_.File("bad.pid")},
                             {"args", {{"events", dir_.File("bad.events")}}}});
  options.daemon_entry = Module() + ":run_workers";
  options.daemon_args = *Args::FromJson(pool.dump());
  DaemonStartResult result = StartDaemon(options);
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
  guardians_.push_back(*result.pid);
  reaper_.Track(*result.pid);
  CommandResult table;
  ASSERT_TRUE(WaitFor([&] {
    table = Ctl({"workers", "--pid-file", pid_file()});
    return Has(table.out, "FATAL");
  })) << table.out
      << table.err;
  printf("$ appkitctl workers --pid-file d.pid\n%s", table.out.c_str());
  EXPECT_TRUE(Has(table.out, "INTERNAL: fail_fast always fails")) << table.out;
  CommandResult json = Ctl({"workers", "--pid-file", pid_file(), "--json"});
  Json worker = Json::parse(json.out)["workers"][0];
  EXPECT_EQ(worker["state"], "WORKER_STATE_FATAL");
  EXPECT_EQ(worker["history"][0]["error"], "INTERNAL: fail_fast always fails");
  EXPECT_EQ(Ctl({"stop", "--pid-file", pid_file()}).exit_code, 0);
}

}  // namespace
}  // namespace appkit
