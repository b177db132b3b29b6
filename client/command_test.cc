// Command entries (SPEC §10), end to end: a program that is not appkit's
// (testing/notify_program.c) run as a daemon and as a pool of workers by
// the real guardian, executor and controller, through the public API in a
// private temp dir; what the program saw (argv, environment, working
// directory, NOTIFY_SOCKET) is what it recorded in a file.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/appkit.h"
#include "client/testing.h"
#include "common/process/pid_file.h"
#include "gtest/gtest.h"
#include "proto/wire.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::FileExists;
using ::appkit::testing::LinesWithPrefix;
using ::appkit::testing::ProcessAlive;
using ::appkit::testing::ReadFileOrEmpty;
using ::appkit::testing::TestDaemon;
using ::appkit::testing::WaitFor;

std::string Program() { return testing::RunfilePath("testing/notify_program"); }

// The pid of a "started pid=P ..." or "sigterm pid=P" line.
pid_t PidOf(const std::string& line) {
  const size_t at = line.find("pid=");
  if (at == std::string::npos) return 0;
  int pid = 0;
  (void)absl::SimpleAtoi(line.substr(at + 4, line.find(' ', at) - at - 4), &pid);
  return pid;
}

std::string ExeOf(pid_t pid) {
  char exe[4096];
  ssize_t n = readlink(absl::StrCat("/proc/", pid, "/exe").c_str(), exe, sizeof(exe) - 1);
  return n > 0 ? std::string(exe, n) : "";
}

// The fds `pid` has open.
std::vector<int> FdsOf(pid_t pid) {
  std::vector<int> fds;
  std::error_code error;
  for (const auto& entry :
       std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/fd"), error)) {
    int fd = -1;
    if (absl::SimpleAtoi(entry.path().filename().string(), &fd)) fds.push_back(fd);
  }
  std::sort(fds.begin(), fds.end());
  return fds;
}

// Whether `pid` has a handler for SIGTERM (/proc/<pid>/status SigCgt).
bool CatchesSigterm(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    uint64_t mask = 0;
    if (absl::StartsWith(line, "SigCgt:\t") &&
        absl::SimpleHexAtoi(absl::string_view(line).substr(8), &mask)) {
      return (mask >> (SIGTERM - 1)) & 1;
    }
  }
  return false;
}

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(CommandDaemonTest, RestartsAfterACrashWithItsPidFileRedirectsEnvironmentAndCwd) {
  TestDaemon daemon;
  const std::string record = daemon.Path("record.txt");
  const std::string cwd = daemon.Path("work");
  ASSERT_EQ(mkdir(cwd.c_str(), 0700), 0);
  DaemonOptions options = daemon.Options("");
  options.daemon_entry.clear();
  options.command = {Program(), "--record", record, "--crash-once", daemon.Path("crashed")};
  options.environment = {{"APPKIT_TEST_VAR", "two words"}};
  options.working_directory = cwd;
  options.restart_interval = absl::Milliseconds(100);
  ASSERT_TRUE(daemon.Start(options).ok());

  // The first run exits 3; the guardian starts the program again.
  ASSERT_TRUE(WaitFor([&] { return LinesWithPrefix(record, "started").size() == 2; }))
      << ReadFileOrEmpty(record);
  ASSERT_TRUE(daemon.WaitUntilRunning().ok());
  const std::vector<std::string> started = LinesWithPrefix(record, "started");
  for (const std::string& line : started) {
    EXPECT_NE(line.find(absl::StrCat(" cwd=", cwd, " ")), std::string::npos) << line;
    EXPECT_NE(line.find(" var=two words "), std::string::npos) << line;
    EXPECT_NE(line.find(" notify=yes"), std::string::npos) << line;
  }
  const pid_t program = PidOf(started[1]);
  absl::StatusOr<v1::GuardianStatus> status;
  ASSERT_TRUE(WaitFor([&] {
    status = daemon.Status();
    return status.ok() && status->executor().pid() == program && status->restart_count() == 1;
  })) << (status.ok() ? status->DebugString() : status.status().ToString());
  // The supervised process is the program itself, not a wrapper, with
  // stdin, stdout and stderr only.
  EXPECT_EQ(ExeOf(program), std::filesystem::canonical(Program()).string());
  EXPECT_EQ(FdsOf(program), (std::vector<int>{0, 1, 2}));
  ASSERT_GE(status->history_size(), 1);
  EXPECT_EQ(status->history(0).exitcode(), 3);
  EXPECT_NE(status->daemon_entry().find("notify_program --record"), std::string::npos);
  EXPECT_EQ(ReadFileOrEmpty(options.pid_filename), absl::StrCat(daemon.guardian_pid(), "\n"));
  EXPECT_EQ(Count(ReadFileOrEmpty(options.stdout_filename), "notify_program stdout"), 2);
  EXPECT_EQ(Count(ReadFileOrEmpty(options.stderr_filename), "notify_program stderr"), 2);

  // Stop: SIGTERM to the program's group, which the program records.
  ASSERT_TRUE(daemon.Stop().ok());
  EXPECT_EQ(LinesWithPrefix(record, absl::StrCat("sigterm pid=", program)).size(), 1u)
      << ReadFileOrEmpty(record);
  EXPECT_TRUE(daemon.CheckNothingLeft().ok());
  EXPECT_FALSE(FileExists(options.pid_filename));
}

// A guardian killed by SIGKILL leaves nothing of a command daemon behind:
// its program dies with it (parent-death signal), and the executor fork
// server, started once the program had time to start
// (ExecutorLauncher::kCommandServerDelay), survives it to remove its pid
// file, status file and socket.
TEST(CommandDaemonTest, ASigkilledGuardianLeavesNeitherItsProgramNorItsFiles) {
  TestDaemon daemon;
  const std::string record = daemon.Path("record.txt");
  DaemonOptions options = daemon.Options("");
  options.daemon_entry.clear();
  options.command = {Program(), "--record", record};
  ASSERT_TRUE(daemon.Start(options).ok());
  ASSERT_TRUE(WaitFor([&] { return LinesWithPrefix(record, "started").size() == 1; }));
  const pid_t program = PidOf(LinesWithPrefix(record, "started")[0]);
  const pid_t guardian = daemon.guardian_pid();
  const std::string status_file = wire::GuardianStatusFileFor(options.pid_filename);
  ASSERT_TRUE(FileExists(status_file));
  // The survivor: the guardian's second child, beside the program, once it
  // serves (it catches SIGTERM, its parent-death signal, from then on).
  ASSERT_TRUE(WaitFor([&] {
    for (pid_t child : testing::ChildrenOf(guardian)) {
      if (child != program && CatchesSigterm(child)) return true;
    }
    return false;
  }));

  kill(guardian, SIGKILL);
  EXPECT_TRUE(testing::WaitForExit(program, absl::Seconds(3)));
  EXPECT_TRUE(WaitFor([&] { return !FileExists(status_file); }, absl::Seconds(3)));
  EXPECT_TRUE(daemon.CheckNothingLeft(absl::Seconds(3)).ok()) << daemon.CheckNothingLeft();
}

TEST(CommandDaemonTest, SearchesThePathOfItsEnvironment) {
  TestDaemon daemon;
  const std::string bin = daemon.Path("bin");
  ASSERT_EQ(mkdir(bin.c_str(), 0700), 0);
  ASSERT_EQ(symlink(Program().c_str(), (bin + "/my-server").c_str()), 0);
  DaemonOptions options = daemon.Options("");
  options.daemon_entry.clear();
  options.command = {"my-server", "--record", daemon.Path("record.txt")};
  options.environment = {{"PATH", "/nonexistent:" + bin}};
  ASSERT_TRUE(daemon.Start(options).ok());
  ASSERT_TRUE(
      WaitFor([&] { return !LinesWithPrefix(daemon.Path("record.txt"), "started").empty(); }));
  // Without a working_directory, the starter's (as an entry's).
  EXPECT_NE(LinesWithPrefix(daemon.Path("record.txt"), "started")[0].find(
                absl::StrCat(" cwd=", std::filesystem::current_path().string(), " ")),
            std::string::npos);
  ASSERT_TRUE(daemon.Stop().ok());
  EXPECT_TRUE(daemon.CheckNothingLeft().ok());
}

// A program gone by its restart: the run fails with exit code 127 and an
// error naming it (what the executor said before exiting).
TEST(CommandDaemonTest, AProgramRemovedBeforeItsRestartFailsNamingIt) {
  TestDaemon daemon;
  const std::string program = daemon.Path("server");
  std::filesystem::copy_file(Program(), program);
  DaemonOptions options = daemon.Options("");
  options.daemon_entry.clear();
  options.command = {program, "--record", daemon.Path("record.txt")};
  options.restart_interval = absl::Milliseconds(100);
  ASSERT_TRUE(daemon.Start(options).ok());
  ASSERT_TRUE(
      WaitFor([&] { return !LinesWithPrefix(daemon.Path("record.txt"), "started").empty(); }));
  const pid_t first = PidOf(LinesWithPrefix(daemon.Path("record.txt"), "started")[0]);
  ASSERT_EQ(unlink(program.c_str()), 0);
  kill(first, SIGKILL);
  absl::StatusOr<v1::GuardianStatus> status;
  ASSERT_TRUE(WaitFor([&] {
    status = daemon.Status();
    return status.ok() && status->history_size() >= 2;
  })) << (status.ok() ? status->DebugString() : status.status().ToString());
  EXPECT_EQ(status->history(0).exitcode(), -SIGKILL);
  EXPECT_EQ(status->history(1).exitcode(), 127);
  EXPECT_NE(status->history(1).error().find("cannot run " + program), std::string::npos)
      << status->history(1).DebugString();
  ASSERT_TRUE(daemon.Stop().ok());
  EXPECT_TRUE(daemon.CheckNothingLeft().ok());
}

class BadCommandTest : public ::testing::Test {
 protected:
  // StartDaemon's error; nothing may be left in the directory.
  std::string StartError(DaemonOptions options) {
    options.pid_filename = dir_.File("daemon.pid");
    options.stderr_filename = dir_.File("err.txt");
    DaemonStartResult result = StartDaemon(options);
    EXPECT_EQ(result.status, DaemonRunStatus::kLaunchFailed);
    EXPECT_FALSE(FileExists(dir_.File("daemon.pid")));
    EXPECT_FALSE(FileExists(dir_.File("daemon.pid.sock")));
    return result.error;
  }
  testing::TempDir dir_;
};

TEST_F(BadCommandTest, MissingProgramInThePathIsNamed) {
  DaemonOptions options;
  options.command = {"no-such-program-xyz", "arg"};
  const std::string error = StartError(options);
  EXPECT_NE(error.find("DaemonOptions.command"), std::string::npos) << error;
  EXPECT_NE(error.find("no-such-program-xyz"), std::string::npos) << error;
  EXPECT_NE(error.find("not found"), std::string::npos) << error;
}

TEST_F(BadCommandTest, MissingProgramPathIsNamed) {
  DaemonOptions options;
  options.command = {dir_.File("missing-server")};
  const std::string error = StartError(options);
  EXPECT_NE(error.find(dir_.File("missing-server")), std::string::npos) << error;
  EXPECT_NE(error.find("does not exist"), std::string::npos) << error;
}

TEST_F(BadCommandTest, NonExecutableProgramIsNamed) {
  const std::string script = dir_.File("script.sh");
  std::ofstream(script) << "#!/bin/sh\nsleep 100\n";
  chmod(script.c_str(), 0600);
  DaemonOptions options;
  options.command = {script};
  const std::string error = StartError(options);
  EXPECT_NE(error.find(script), std::string::npos) << error;
  EXPECT_NE(error.find("not executable"), std::string::npos) << error;
}

TEST_F(BadCommandTest, ADirectoryIsNotAProgram) {
  DaemonOptions options;
  options.command = {dir_.path()};
  const std::string error = StartError(options);
  EXPECT_NE(error.find("not a regular file"), std::string::npos) << error;
}

TEST_F(BadCommandTest, EntryAndCommandTogetherAreRefused) {
  DaemonOptions options;
  options.daemon_entry = "demo:daemon_main";
  options.command = {"/bin/true"};
  const std::string error = StartError(options);
  EXPECT_NE(error.find("exactly one"), std::string::npos) << error;
  EXPECT_NE(error.find("demo:daemon_main"), std::string::npos) << error;
}

TEST_F(BadCommandTest, MissingWorkingDirectoryIsNamed) {
  DaemonOptions options;
  options.command = {"/bin/true"};
  options.working_directory = dir_.File("no-such-dir");
  const std::string error = StartError(options);
  EXPECT_NE(error.find("working_directory"), std::string::npos) << error;
  EXPECT_NE(error.find(dir_.File("no-such-dir")), std::string::npos) << error;
}

TEST_F(BadCommandTest, BadEnvironmentNameIsNamed) {
  DaemonOptions options;
  options.command = {"/bin/true"};
  options.environment = {{"A=B", "x"}};
  const std::string error = StartError(options);
  EXPECT_NE(error.find("'A=B'"), std::string::npos) << error;
}

TEST_F(BadCommandTest, EntryWithAMissingWorkingDirectoryIsNamed) {
  DaemonOptions options;
  options.daemon_entry = testing::RunfilePath("testing/libtest_module.so") + ":run_until_quit";
  options.working_directory = dir_.File("gone");
  const std::string error = StartError(options);
  EXPECT_NE(error.find(dir_.File("gone")), std::string::npos) << error;
}

// A pool of command workers in a daemon (the test module's run_workers
// entry): each worker is the program itself, holding its pid file, and a
// crashed one is started again.
TEST(CommandWorkersTest, APoolOfProgramsRestartsTheCrashedOneAndStopsThemAll) {
  TestDaemon daemon;
  const std::string cwd = daemon.Path("work");
  ASSERT_EQ(mkdir(cwd.c_str(), 0700), 0);
  std::string workers = "[";
  for (int i = 1; i <= 2; ++i) {
    const std::string name = absl::StrCat("w", i);
    std::string command = absl::StrCat(R"([")", Program(), R"(", "--record", ")",
                                       daemon.Path(name + ".record"), R"(")");
    if (i == 1) command += absl::StrCat(R"(, "--crash-once", ")", daemon.Path("crashed"), R"(")");
    command += "]";
    absl::StrAppend(&workers, i > 1 ? "," : "", R"({"name": ")", name, R"(", "command": )", command,
                    R"(, "pid_filename": ")", daemon.Path(name + ".pid"),
                    R"(", "stdout_filename": ")", daemon.Path(name + "-out.txt"),
                    R"(", "environment": {"APPKIT_TEST_VAR": ")", name,
                    R"("}, "working_directory": ")", cwd, R"("})");
  }
  workers += "]";
  DaemonOptions options =
      daemon.Options(testing::RunfilePath("testing/libtest_module.so") + ":run_workers");
  auto args =
      Args::FromJson(absl::StrCat(R"({"restart_interval_ms": 100, "workers": )", workers, "}"));
  ASSERT_TRUE(args.ok()) << args.status();
  options.daemon_args = *args;
  ASSERT_TRUE(daemon.Start(options).ok());
  auto listed = daemon.WaitForRestarts(0, 1);
  ASSERT_TRUE(listed.ok()) << listed.status();
  listed = daemon.WaitForWorkers(2);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->workers(0).history(0).exitcode(), 3);
  std::vector<pid_t> programs;
  for (int i = 1; i <= 2; ++i) {
    const std::string name = absl::StrCat("w", i);
    const std::vector<std::string> started =
        LinesWithPrefix(daemon.Path(name + ".record"), "started");
    ASSERT_EQ(started.size(), i == 1 ? 2u : 1u);
    EXPECT_NE(started.back().find(absl::StrCat(" cwd=", cwd, " var=", name, " notify=yes")),
              std::string::npos)
        << started.back();
    const pid_t pid = PidOf(started.back());
    programs.push_back(pid);
    EXPECT_EQ(listed->workers(i - 1).current().pid(), pid);
    EXPECT_EQ(ExeOf(pid), std::filesystem::canonical(Program()).string());
    EXPECT_EQ(FdsOf(pid), (std::vector<int>{0, 1, 2}));
    EXPECT_EQ(ReadFileOrEmpty(daemon.Path(name + ".pid")), absl::StrCat(pid, "\n"));
    // Held for the program (which keeps fds 0-2 only: the controller holds
    // the worker's open file description lock), through w1's restart too:
    // a second starter is refused, as for an entry's worker.
    auto second = PidFile::Acquire(daemon.Path(name + ".pid"), getpid(), "worker");
    ASSERT_FALSE(second.ok()) << name << " was free";
    EXPECT_NE(second.status().message().find("held by something else"), std::string::npos)
        << second.status();
    EXPECT_EQ(ReadFileOrEmpty(daemon.Path(name + ".pid")), absl::StrCat(pid, "\n"));
    EXPECT_NE(ReadFileOrEmpty(daemon.Path(name + "-out.txt")).find("notify_program stdout"),
              std::string::npos);
  }
  ASSERT_TRUE(daemon.Stop().ok());
  for (int i = 1; i <= 2; ++i) {
    const std::string name = absl::StrCat("w", i);
    EXPECT_EQ(LinesWithPrefix(daemon.Path(name + ".record"),
                              absl::StrCat("sigterm pid=", programs[i - 1]))
                  .size(),
              1u)
        << ReadFileOrEmpty(daemon.Path(name + ".record"));
    EXPECT_FALSE(FileExists(daemon.Path(name + ".pid")));
  }
  EXPECT_TRUE(daemon.CheckNothingLeft().ok());
}

TEST(CommandWorkersTest, MissingProgramIsNamedBeforeAnyWorkerStarts) {
  testing::TempDir dir;
  std::vector<WorkerStartInfo> workers(2);
  workers[0].name = "good";
  workers[0].command = {Program()};
  workers[0].pid_filename = dir.File("good.pid");
  workers[1].name = "bad";
  workers[1].command = {"no-such-worker-program"};
  workers[1].pid_filename = dir.File("bad.pid");
  absl::Status status = StartWorkers(workers, WorkersOptions());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("worker 'bad'"), std::string::npos) << status;
  EXPECT_NE(status.message().find("no-such-worker-program"), std::string::npos) << status;
  EXPECT_FALSE(FileExists(dir.File("good.pid")));
}

}  // namespace
}  // namespace appkit
