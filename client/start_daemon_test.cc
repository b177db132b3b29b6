// Integration tests of StartDaemon: the real guardian and executor
// binaries, started through the public API in a private temp dir. Every
// process a test sees is tracked and killed if it survives the test.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "client/appkit.h"
#include "common/host/host.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "proto/guardian.grpc.pb.h"
#include "testing/grpc_probe.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::FileExists;
using ::appkit::testing::LinesWithPrefix;
using ::appkit::testing::PidOfEvent;
using ::appkit::testing::ProcessAlive;
using ::appkit::testing::ReadFileOrEmpty;
using ::appkit::testing::WaitFor;
using ::appkit::testing::WaitForExit;

std::string Module() { return testing::RunfilePath("testing/libtest_module.so"); }

class StartDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.pid_filename = dir_.File("d.pid");
    options_.daemon_args.Set("events", events());
    options_.stderr_filename = dir_.File("err.txt");
  }

  void TearDown() override {
    // Stop whatever still runs (the reaper SIGKILLs survivors afterwards).
    if (guardian_ > 0 && ProcessAlive(guardian_)) {
      kill(guardian_, SIGTERM);
      WaitForExit(guardian_, absl::Seconds(15));
    }
  }

  std::string events() const { return dir_.File("events.txt"); }

  DaemonStartResult Start(const std::string& function) {
    options_.daemon_entry = Module() + ":" + function;
    DaemonStartResult result = StartDaemon(options_);
    if (result.status == DaemonRunStatus::kLaunched && result.pid) {
      guardian_ = *result.pid;
      reaper_.Track(guardian_);
    }
    return result;
  }

  // The pid of the nth executor that marked "started".
  pid_t WaitForStarted(int nth = 0) {
    pid_t pid = 0;
    WaitFor([&] { return (pid = PidOfEvent(events(), "started", nth)) != 0; });
    reaper_.Track(pid);
    return pid;
  }

  std::unique_ptr<v1::Guardian::Stub> Stub() {
    return v1::Guardian::NewStub(grpc::CreateChannel("unix:" + options_.pid_filename + ".sock",
                                                     grpc::InsecureChannelCredentials()));
  }

  v1::GuardianStatus Status() {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::GuardianStatus status;
    grpc::Status rpc = Stub()->GetStatus(&context, {}, &status);
    EXPECT_TRUE(rpc.ok()) << rpc.error_message();
    return status;
  }

  void ExpectNothingLeft() {
    EXPECT_FALSE(FileExists(options_.pid_filename));
    EXPECT_FALSE(FileExists(options_.pid_filename + ".sock"));
  }

  testing::TempDir dir_;
  testing::ProcessReaper reaper_;
  DaemonOptions options_;
  pid_t guardian_ = 0;
};

TEST_F(StartDaemonTest, LaunchWritesPidFileAndRunsEntry) {
  DaemonStartResult result = Start("run_until_quit");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
  ASSERT_TRUE(result.pid.has_value());
  EXPECT_EQ(ReadFileOrEmpty(options_.pid_filename), std::to_string(*result.pid) + "\n");
  struct stat st;
  ASSERT_EQ(stat((options_.pid_filename + ".sock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600);
  pid_t executor = WaitForStarted();
  ASSERT_GT(executor, 0) << ReadFileOrEmpty(dir_.File("err.txt"));
  EXPECT_EQ(testing::ParentOf(executor), *result.pid);
  // Its other child is the executor fork server, which StartDaemon starts
  // next to the guardian: in its own process group, in the same session.
  std::vector<pid_t> children = testing::ChildrenOf(*result.pid);
  ASSERT_EQ(children.size(), 2u);
  pid_t server = children[0] == executor ? children[1] : children[0];
  EXPECT_EQ(getpgid(server), server);
  EXPECT_EQ(getsid(server), getsid(*result.pid));
  EXPECT_NE(ReadFileOrEmpty("/proc/" + std::to_string(server) + "/cmdline").find("executor"),
            std::string::npos);
  // The guardian is detached: not our child, in a session of its own
  // (double fork: not a session leader, so it can never get a terminal).
  EXPECT_NE(testing::ParentOf(*result.pid), getpid());
  EXPECT_NE(getsid(*result.pid), getsid(0));
  EXPECT_NE(getsid(*result.pid), *result.pid);
}

// Processes whose command line mentions `text` (our temp dir).
std::vector<pid_t> ProcessesMentioning(const std::string& text) {
  std::vector<pid_t> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    pid_t pid = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &pid) || pid == getpid()) continue;
    std::string cmdline = ReadFileOrEmpty(entry.path().string() + "/cmdline");
    if (cmdline.find(text) != std::string::npos) found.push_back(pid);
  }
  return found;
}

// An executor binary that cannot start (a script whose interpreter is
// missing): StartDaemon's own fork server for it dies before its exec,
// the guardian tries again itself and reports why; nothing is left.
TEST_F(StartDaemonTest, ExecutorThatCannotStartIsLaunchFailed) {
  const std::string bin = dir_.File("bin");
  ASSERT_EQ(mkdir(bin.c_str(), 0755), 0);
  auto guardian = internal::FindAppkitBinary("guardian");
  ASSERT_TRUE(guardian.ok()) << guardian.status();
  ASSERT_EQ(symlink(guardian->c_str(), (bin + "/guardian").c_str()), 0);
  std::ofstream(bin + "/executor") << "#!/nonexistent/interpreter\n";
  ASSERT_EQ(chmod((bin + "/executor").c_str(), 0755), 0);
  setenv("APPKIT_BIN_DIR", bin.c_str(), 1);
  DaemonStartResult result = Start("run_until_quit");
  unsetenv("APPKIT_BIN_DIR");
  EXPECT_EQ(result.status, DaemonRunStatus::kLaunchFailed);
  EXPECT_NE(result.error.find("cannot start the executor binary " + bin + "/executor"),
            std::string::npos)
      << result.error;
  ExpectNothingLeft();
  EXPECT_TRUE(WaitFor([&] { return ProcessesMentioning(dir_.path()).empty(); }));
}

TEST_F(StartDaemonTest, SecondStartReportsTheRunningPid) {
  DaemonStartResult first = Start("run_until_quit");
  ASSERT_EQ(first.status, DaemonRunStatus::kLaunched) << first.error;
  DaemonStartResult second = Start("run_until_quit");
  EXPECT_EQ(second.status, DaemonRunStatus::kAlreadyRunning);
  EXPECT_EQ(second.pid, first.pid);
}

TEST_F(StartDaemonTest, StalePidFileIsReplaced) {
  pid_t dead = fork();
  if (dead == 0) _exit(0);
  waitpid(dead, nullptr, 0);
  std::ofstream(options_.pid_filename) << dead << "\n";
  DaemonStartResult result = Start("run_until_quit");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
  EXPECT_EQ(ReadFileOrEmpty(options_.pid_filename), std::to_string(*result.pid) + "\n");
}

TEST_F(StartDaemonTest, GarbagePidFileIsReplaced) {
  std::ofstream(options_.pid_filename) << "not a pid at all";
  DaemonStartResult result = Start("run_until_quit");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
  EXPECT_EQ(ReadFileOrEmpty(options_.pid_filename), std::to_string(*result.pid) + "\n");
}

TEST_F(StartDaemonTest, TenConcurrentStartsLaunchExactlyOne) {
  options_.daemon_entry = Module() + ":run_until_quit";
  std::vector<DaemonStartResult> results(10);
  std::vector<std::thread> threads;
  for (int i = 0; i < 10; ++i) {
    threads.emplace_back([&, i] { results[i] = StartDaemon(options_); });
  }
  for (auto& thread : threads) thread.join();
  int launched = 0;
  std::optional<pid_t> winner;
  for (const auto& result : results) {
    if (result.pid) reaper_.Track(*result.pid);
    if (result.status == DaemonRunStatus::kLaunched) {
      ++launched;
      winner = result.pid;
    }
  }
  ASSERT_EQ(launched, 1);
  guardian_ = *winner;
  for (const auto& result : results) {
    EXPECT_NE(result.status, DaemonRunStatus::kLaunchFailed) << result.error;
    EXPECT_EQ(result.pid, winner);
  }
  EXPECT_EQ(ReadFileOrEmpty(options_.pid_filename), std::to_string(*winner) + "\n");
}

TEST_F(StartDaemonTest, RedirectsStdoutAndStderr) {
  options_.stdout_filename = dir_.File("out.txt");
  ASSERT_EQ(Start("run_until_quit").status, DaemonRunStatus::kLaunched);
  EXPECT_TRUE(WaitFor([&] {
    return ReadFileOrEmpty(dir_.File("out.txt")).find("stdout line") != std::string::npos &&
           ReadFileOrEmpty(dir_.File("err.txt")).find("stderr line") != std::string::npos;
  }));
  EXPECT_EQ(ReadFileOrEmpty(dir_.File("out.txt")).find("stderr line"), std::string::npos);
}

TEST_F(StartDaemonTest, StdoutAndStderrCanShareOneFile) {
  options_.stdout_filename = dir_.File("both.txt");
  options_.stderr_filename = dir_.File("both.txt");
  ASSERT_EQ(Start("run_until_quit").status, DaemonRunStatus::kLaunched);
  EXPECT_TRUE(WaitFor([&] {
    std::string both = ReadFileOrEmpty(dir_.File("both.txt"));
    return both.find("stdout line") != std::string::npos &&
           both.find("stderr line") != std::string::npos;
  }));
}

TEST_F(StartDaemonTest, LoggingConfigGetsGuardianExecutorAndModuleLines) {
  auto config = LoggingConfigFromJson(R"({"level": "DEBUG", "handlers": [{"file": {"filename": ")" +
                                      dir_.File("app.log") + R"("}}]})");
  ASSERT_TRUE(config.ok()) << config.status();
  options_.logging_config = *config;
  ASSERT_EQ(Start("run_until_quit").status, DaemonRunStatus::kLaunched);
  EXPECT_TRUE(WaitFor([&] {
    std::string log = ReadFileOrEmpty(dir_.File("app.log"));
    return log.find("[guardian]") != std::string::npos &&
           log.find("[executor]") != std::string::npos &&
           log.find("module line from run_until_quit") != std::string::npos;
  })) << ReadFileOrEmpty(dir_.File("app.log"));
  EXPECT_NE(ReadFileOrEmpty(dir_.File("app.log")).find("launched"), std::string::npos);
}

TEST_F(StartDaemonTest, SighupReopensLogFilesAfterLogrotateMovedThem) {
  const std::string log = dir_.File("app.log");
  auto config =
      LoggingConfigFromJson(R"({"handlers": [{"file": {"filename": ")" + log + R"("}}]})");
  ASSERT_TRUE(config.ok()) << config.status();
  options_.logging_config = *config;
  DaemonStartResult result = Start("run_until_quit");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched);
  ASSERT_TRUE(
      WaitFor([&] { return ReadFileOrEmpty(log).find("module line") != std::string::npos; }));
  ASSERT_EQ(rename(log.c_str(), (log + ".1").c_str()), 0);
  kill(*result.pid, SIGHUP);
  EXPECT_TRUE(WaitFor([&] {
    std::string fresh = ReadFileOrEmpty(log);
    return fresh.find("[guardian]") != std::string::npos &&
           fresh.find("[executor]") != std::string::npos;
  })) << ReadFileOrEmpty(log);
  EXPECT_NE(ReadFileOrEmpty(log).find("reopened"), std::string::npos);
  EXPECT_TRUE(ProcessAlive(*result.pid));
}

TEST_F(StartDaemonTest, EntryReturningOkEndsTheDaemonAndCleansUp) {
  DaemonStartResult result = Start("exit_ok");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
  EXPECT_TRUE(WaitForExit(*result.pid));
  ExpectNothingLeft();
}

TEST_F(StartDaemonTest, ArgsReachTheEntry) {
  options_.daemon_args.Set("foo", 42).Set("name", "appkit");
  DaemonStartResult result = Start("check_args");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
  EXPECT_TRUE(
      WaitFor([&] { return !LinesWithPrefix(events(), "args foo=42 name=appkit").empty(); }));
  EXPECT_TRUE(WaitForExit(*result.pid));
}

TEST_F(StartDaemonTest, FailingEntryIsRestartedAfterRestartInterval) {
  options_.restart_interval = absl::Milliseconds(300);
  DaemonStartResult result = Start("fail_fast");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
  pid_t first = WaitForStarted(0);
  pid_t second = WaitForStarted(1);
  ASSERT_GT(second, 0);
  EXPECT_NE(first, second);
  v1::GuardianStatus status = Status();
  EXPECT_GE(status.restart_count(), 1);
  ASSERT_GE(status.history_size(), 1);
  EXPECT_EQ(status.history(0).pid(), first);
  EXPECT_EQ(status.history(0).exitcode(), 1);
  EXPECT_EQ(status.history(0).description(), "exited with code 1");
  // The restart came restart_interval after the exit, not sooner.
  absl::Time first_end = absl::FromUnixSeconds(status.history(0).end_time().seconds()) +
                         absl::Nanoseconds(status.history(0).end_time().nanos());
  absl::Time next_start =
      absl::FromUnixSeconds(status.history_size() > 1 ? status.history(1).start_time().seconds()
                                                      : status.executor().start_time().seconds()) +
      absl::Nanoseconds(status.history_size() > 1 ? status.history(1).start_time().nanos()
                                                  : status.executor().start_time().nanos());
  EXPECT_GE(next_start - first_end, absl::Milliseconds(290));
  EXPECT_LT(next_start - first_end, absl::Milliseconds(800));
}

TEST_F(StartDaemonTest, FailingEntryWithoutRestartEndsTheDaemon) {
  DaemonStartResult result = Start("fail_fast");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
  EXPECT_TRUE(WaitForExit(*result.pid));
  EXPECT_EQ(LinesWithPrefix(events(), "started").size(), 1u);
  ExpectNothingLeft();
  EXPECT_NE(ReadFileOrEmpty(dir_.File("err.txt")).find("exited with code 1"), std::string::npos);
}

TEST_F(StartDaemonTest, CrashBySignalIsReportedAndRestarted) {
  options_.restart_interval = absl::Milliseconds(1);
  ASSERT_EQ(Start("crash").status, DaemonRunStatus::kLaunched);
  WaitForStarted(1);
  v1::GuardianStatus status = Status();
  ASSERT_GE(status.history_size(), 1);
  EXPECT_EQ(status.history(0).exitcode(), -SIGSEGV);
  EXPECT_EQ(status.history(0).description(), "killed by signal 11 (SIGSEGV)");
}

TEST_F(StartDaemonTest, KilledExecutorForkServerIsReplacedAtTheNextRestart) {
  options_.restart_interval = absl::Milliseconds(1);
  options_.logging_config =
      *LoggingConfigFromJson(R"({"level": "INFO", "handlers": [{"file": {"filename": ")" +
                             dir_.File("d.log") + R"("}}]})");
  DaemonStartResult result = Start("run_until_quit");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched);
  pid_t executor = WaitForStarted();
  ASSERT_GT(executor, 0);
  // The guardian's child that is not the running executor.
  auto server_of = [&](pid_t running) {
    pid_t found = 0;
    for (pid_t child : testing::ChildrenOf(*result.pid)) {
      if (child != running) found = child;
    }
    return found;
  };
  pid_t server = server_of(executor);
  ASSERT_GT(server, 0);
  kill(server, SIGKILL);
  EXPECT_TRUE(WaitFor([&] {
    return ReadFileOrEmpty(dir_.File("d.log"))
               .find("executor fork server " + std::to_string(server)) != std::string::npos;
  })) << ReadFileOrEmpty(dir_.File("d.log"));
  // The daemon goes on; its next executor comes from a new server.
  kill(executor, SIGKILL);
  pid_t next = WaitForStarted(1);
  ASSERT_GT(next, 0) << ReadFileOrEmpty(dir_.File("d.log"));
  EXPECT_EQ(testing::ParentOf(next), *result.pid);
  pid_t new_server = server_of(next);
  EXPECT_GT(new_server, 0);
  EXPECT_NE(new_server, server);
}

TEST_F(StartDaemonTest, SigtermToGuardianEndsTheTreeWithoutRestart) {
  options_.restart_interval = absl::Milliseconds(1);
  DaemonStartResult result = Start("run_until_quit");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched);
  pid_t executor = WaitForStarted();
  kill(*result.pid, SIGTERM);
  EXPECT_TRUE(WaitForExit(*result.pid));
  EXPECT_TRUE(WaitForExit(executor));
  EXPECT_EQ(LinesWithPrefix(events(), "started").size(), 1u);
  EXPECT_EQ(LinesWithPrefix(events(), "quit").size(), 1u);
  ExpectNothingLeft();
}

TEST_F(StartDaemonTest, SigtermToExecutorEndsTheTreeWithoutRestart) {
  options_.restart_interval = absl::Milliseconds(1);
  DaemonStartResult result = Start("run_until_quit");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched);
  pid_t executor = WaitForStarted();
  kill(executor, SIGTERM);
  EXPECT_TRUE(WaitForExit(*result.pid));
  EXPECT_TRUE(WaitForExit(executor));
  EXPECT_EQ(LinesWithPrefix(events(), "started").size(), 1u);
  ExpectNothingLeft();
}

TEST_F(StartDaemonTest, SigkillToGuardianTakesTheExecutorDownWithinOneSecond) {
  DaemonStartResult result = Start("run_until_quit");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched);
  pid_t executor = WaitForStarted();
  kill(*result.pid, SIGKILL);
  EXPECT_TRUE(WaitForExit(executor, absl::Seconds(1)));
  // The executor fork server survives it long enough to remove the dead
  // guardian's pid file and socket: nothing stale is left.
  EXPECT_TRUE(WaitFor(
      [&] {
        return !FileExists(options_.pid_filename) && !FileExists(options_.pid_filename + ".sock");
      },
      absl::Seconds(3)))
      << ReadFileOrEmpty(dir_.File("err.txt"));
  // And a new start works at once.
  DaemonStartResult again = Start("run_until_quit");
  EXPECT_EQ(again.status, DaemonRunStatus::kLaunched) << again.error;
}

TEST_F(StartDaemonTest, SigkillToGuardianKillsTheEntrysGrandchildren) {
  DaemonStartResult result = Start("fork_grandchild");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched);
  std::vector<std::string> lines;
  ASSERT_TRUE(WaitFor([&] { return !(lines = LinesWithPrefix(events(), "grandchild=")).empty(); }));
  pid_t grandchild = std::stoi(lines[0].substr(11));
  reaper_.Track(grandchild);
  kill(*result.pid, SIGKILL);
  EXPECT_TRUE(WaitForExit(grandchild, absl::Seconds(3)));
}

TEST_F(StartDaemonTest, EntryIgnoringQuitIsKilledAfterStopTimeout) {
  options_.stop_timeout = absl::Milliseconds(300);
  DaemonStartResult result = Start("ignore_quit");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched);
  pid_t executor = WaitForStarted();
  absl::Time start = absl::Now();
  kill(*result.pid, SIGTERM);
  EXPECT_TRUE(WaitForExit(executor));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(280));
  EXPECT_TRUE(WaitForExit(*result.pid));
  EXPECT_NE(ReadFileOrEmpty(dir_.File("err.txt")).find("stop timeout"), std::string::npos);
  ExpectNothingLeft();
}

TEST_F(StartDaemonTest, SleepReturnsPromptlyOnQuit) {
  DaemonStartResult result = Start("sleep_long");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched);
  WaitForStarted();
  kill(*result.pid, SIGTERM);
  EXPECT_TRUE(WaitForExit(*result.pid));
  auto lines = LinesWithPrefix(events(), "slept_ms=");
  ASSERT_EQ(lines.size(), 1u);
  int ms = std::stoi(lines[0].substr(9));
  EXPECT_LT(ms, 1000);
}

TEST_F(StartDaemonTest, GrandchildrenDoNotSurviveAStop) {
  DaemonStartResult result = Start("fork_grandchild");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched);
  std::vector<std::string> lines;
  ASSERT_TRUE(WaitFor([&] { return !(lines = LinesWithPrefix(events(), "grandchild=")).empty(); }));
  pid_t grandchild = std::stoi(lines[0].substr(11));
  reaper_.Track(grandchild);
  kill(*result.pid, SIGTERM);
  EXPECT_TRUE(WaitForExit(*result.pid));
  EXPECT_TRUE(WaitForExit(grandchild, absl::Seconds(1)));
}

TEST_F(StartDaemonTest, ControlSocketServesStatusQuitDebugHealthAndReflection) {
  options_.restart_interval = absl::Seconds(5);
  DaemonStartResult result = Start("run_until_quit");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched);
  pid_t executor = WaitForStarted();
  const std::string socket = options_.pid_filename + ".sock";
  EXPECT_EQ(testing::HealthCheck(socket).value_or("error"), "SERVING");
  EXPECT_EQ(testing::HealthCheck(socket, "appkit.v1.Guardian").value_or("error"), "SERVING");
  auto services = testing::ReflectionListServices(socket);
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_NE(std::find(services->begin(), services->end(), "appkit.v1.Guardian"), services->end());
  // Health under its standard file name: clients generated from gRPC's own
  // health.proto, and reflection-driven tools, see the standard file.
  EXPECT_EQ(testing::ReflectionFileContainingSymbol(socket, "grpc.health.v1.Health").value_or(""),
            "grpc/health/v1/health.proto");

  ASSERT_TRUE(WaitFor([&] { return Status().state() == v1::GUARDIAN_STATE_RUNNING; }));
  v1::GuardianStatus status = Status();
  EXPECT_EQ(status.guardian_pid(), *result.pid);
  EXPECT_EQ(status.executor().pid(), executor);
  EXPECT_TRUE(status.executor_running());
  EXPECT_EQ(status.restart_count(), 0);
  EXPECT_EQ(status.restart_interval().seconds(), 5);
  EXPECT_NE(status.daemon_entry().find("run_until_quit"), std::string::npos);

  {
    grpc::ClientContext context;
    v1::GuardianDebugSnapshot snapshot;
    ASSERT_TRUE(Stub()->GetDebugSnapshot(&context, {}, &snapshot).ok());
    EXPECT_EQ(snapshot.guardian().guardian_pid(), *result.pid);
    EXPECT_NE(snapshot.workers().json().find("\"worker_info_list\": []"), std::string::npos);
  }
  {
    grpc::ClientContext context;
    v1::GuardianRequestQuitResponse response;
    ASSERT_TRUE(Stub()->RequestQuit(&context, {}, &response).ok());
  }
  EXPECT_TRUE(WaitForExit(*result.pid));
  EXPECT_TRUE(WaitForExit(executor));
  EXPECT_EQ(LinesWithPrefix(events(), "started").size(), 1u);
  ExpectNothingLeft();
}

// Bad input: kLaunchFailed, an error naming the culprit, nothing left.
class StartDaemonBadInputTest : public StartDaemonTest {
 protected:
  void ExpectFailure(const DaemonOptions& options, const std::string& culprit) {
    DaemonStartResult result = StartDaemon(options);
    EXPECT_EQ(result.status, DaemonRunStatus::kLaunchFailed);
    EXPECT_NE(result.error.find(culprit), std::string::npos)
        << "error '" << result.error << "' does not name '" << culprit << "'";
    if (result.pid) reaper_.Track(*result.pid);
    EXPECT_FALSE(FileExists(options.pid_filename));
    EXPECT_FALSE(FileExists(options.pid_filename + ".sock"));
  }
  DaemonOptions Good() {
    DaemonOptions options = options_;
    options.daemon_entry = Module() + ":run_until_quit";
    return options;
  }
};

TEST_F(StartDaemonBadInputTest, MalformedEntries) {
  for (const std::string entry : {"no_colon", ":fn", "module:", "mod:not-an-identifier"}) {
    DaemonOptions options = Good();
    options.daemon_entry = entry;
    ExpectFailure(options, entry);
  }
}

TEST_F(StartDaemonBadInputTest, MissingModule) {
  DaemonOptions options = Good();
  options.daemon_entry = "no_such_module_xyz:main";
  ExpectFailure(options, "no_such_module_xyz");
  options.daemon_entry = dir_.File("nothere.so") + ":main";
  ExpectFailure(options, dir_.File("nothere.so"));
}

TEST_F(StartDaemonBadInputTest, MissingFunction) {
  DaemonOptions options = Good();
  options.daemon_entry = Module() + ":no_such_function";
  ExpectFailure(options, "no_such_function");
}

// A module linked with //client:appkit (what appkit_module refuses at build
// time; here built with a plain cc_binary) carries a second runtime: it is
// refused before anything starts, naming the module and what to change.
TEST_F(StartDaemonBadInputTest, ModuleThatLinksTheRuntimeIsRefused) {
  DaemonOptions options = Good();
  const std::string module = testing::RunfilePath("testing/liblinks_runtime.so");
  options.daemon_entry = module + ":daemon_main";
  ExpectFailure(options, "links its own copy of the appkit runtime");
  ExpectFailure(options, "liblinks_runtime.so");
  ExpectFailure(options, "appkit_module");
  ExpectFailure(options, "//client:appkit");
}

TEST_F(StartDaemonBadInputTest, MissingOrUnwritableDirectories) {
  DaemonOptions options = Good();
  options.pid_filename = dir_.File("missing/d.pid");
  ExpectFailure(options, dir_.File("missing"));
  options = Good();
  options.stdout_filename = dir_.File("missing/out.txt");
  ExpectFailure(options, dir_.File("missing"));
  options = Good();
  options.stderr_filename = dir_.File("missing2/err.txt");
  ExpectFailure(options, dir_.File("missing2"));
}

TEST_F(StartDaemonBadInputTest, PidPathThatIsADirectory) {
  DaemonOptions options = Good();
  mkdir(dir_.File("adir").c_str(), 0700);
  options.pid_filename = dir_.File("adir");
  DaemonStartResult result = StartDaemon(options);
  EXPECT_EQ(result.status, DaemonRunStatus::kLaunchFailed);
  EXPECT_NE(result.error.find(dir_.File("adir")), std::string::npos) << result.error;
}

TEST_F(StartDaemonBadInputTest, NegativeIntervals) {
  DaemonOptions options = Good();
  options.restart_interval = absl::Seconds(-1);
  ExpectFailure(options, "restart_interval");
  options = Good();
  options.stop_timeout = absl::Seconds(-1);
  ExpectFailure(options, "stop_timeout");
}

TEST_F(StartDaemonBadInputTest, OverLongSocketPath) {
  DaemonOptions options = Good();
  options.control_socket = dir_.File(std::string(120, 's') + ".sock");
  ExpectFailure(options, options.control_socket);
}

TEST_F(StartDaemonBadInputTest, MissingRequiredOptions) {
  DaemonOptions options = Good();
  options.daemon_entry = "";
  ExpectFailure(options, "daemon_entry");
  options = Good();
  options.pid_filename = "";
  DaemonStartResult result = StartDaemon(options);
  EXPECT_EQ(result.status, DaemonRunStatus::kLaunchFailed);
  EXPECT_NE(result.error.find("pid_filename"), std::string::npos);
}

// SPEC §4: a running daemon is reported whatever the other options say
// (a start is idempotent); bad input for another pid file fails and leaves
// the running daemon alone.
TEST_F(StartDaemonBadInputTest, BadInputDoesNotDisturbARunningDaemon) {
  DaemonStartResult running = Start("run_until_quit");
  ASSERT_EQ(running.status, DaemonRunStatus::kLaunched);
  DaemonOptions options = Good();
  options.daemon_entry = Module() + ":no_such_function";
  DaemonStartResult result = StartDaemon(options);
  EXPECT_EQ(result.status, DaemonRunStatus::kAlreadyRunning) << result.error;
  EXPECT_EQ(result.pid, running.pid);
  options.pid_filename = dir_.File("other.pid");
  result = StartDaemon(options);
  EXPECT_EQ(result.status, DaemonRunStatus::kLaunchFailed);
  EXPECT_NE(result.error.find("no_such_function"), std::string::npos) << result.error;
  EXPECT_FALSE(testing::FileExists(options.pid_filename));
  EXPECT_TRUE(ProcessAlive(*running.pid));
  EXPECT_EQ(ReadFileOrEmpty(options_.pid_filename), std::to_string(*running.pid) + "\n");
}

}  // namespace
}  // namespace appkit
