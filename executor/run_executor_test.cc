// The executor without a guardian: RunExecutor in a forked child (it
// changes process-wide state), with its readiness pipe and stderr as a
// guardian gives them; and the executor binary as a fork server driven by
// this test, or by a stand-in guardian that dies by SIGKILL.
#include "executor/run_executor.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/base/fd_io.h"
#include "common/base/unique_fd.h"
#include "common/host/entry.h"
#include "common/process/fork_server.h"
#include "common/process/pid_file.h"
#include "gtest/gtest.h"
#include "proto/launch.pb.h"
#include "proto/wire.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit::executor {
namespace {

using appkit::testing::ReadFileOrEmpty;
using appkit::testing::RunfilePath;
using appkit::testing::TempDir;
using appkit::testing::WaitFor;

const std::string kRunning(1, static_cast<char>(wire::Message::kEntryRunning));

struct Pipe {
  Pipe() {
    int ends[2];
    EXPECT_EQ(pipe2(ends, O_CLOEXEC), 0);
    read_end.reset(ends[0]);
    write_end.reset(ends[1]);
  }
  UniqueFd read_end, write_end;
};

// A launch for `function` of the test module (resolved as StartDaemon
// does), recording its events in `events`.
v1::ExecutorLaunch LaunchOf(const std::string& function, const std::string& events = "") {
  v1::ExecutorLaunch launch;
  launch.set_daemon_entry("test_module:" + function);
  absl::StatusOr<std::string> resolved =
      internal::ResolveEntry(RunfilePath("testing/libtest_module.so") + ":" + function, {});
  EXPECT_TRUE(resolved.ok()) << resolved.status();
  launch.set_resolved_entry(resolved.value_or(""));
  if (!events.empty()) {
    (*launch.mutable_daemon_args()->mutable_fields())["events"].set_string_value(events);
  }
  return launch;
}

struct ExecutorRun {
  int status = 0;
  std::string ready;  // what came on the readiness pipe
  std::string err;    // stderr (the default log goes there too)
  bool exited(int code) const { return WIFEXITED(status) && WEXITSTATUS(status) == code; }
};

// RunExecutorRequest(request) in a child with the readiness pipe on its
// fd and stderr in a file, as the executor fork server's children have.
ExecutorRun RunInChild(const std::string& request) {
  TempDir dir;
  const std::string err_file = dir.File("stderr");
  Pipe ready;
  pid_t pid = fork();
  if (pid == 0) {
    int err = open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    dup2(err, 2);
    dup2(ready.write_end.get(), wire::kExecutorReadyFd);
    _exit(RunExecutorRequest(request));
  }
  ready.write_end.reset();
  ExecutorRun run;
  run.ready = ReadAll(ready.read_end.get()).value_or("");
  EXPECT_EQ(waitpid(pid, &run.status, 0), pid);
  run.err = ReadFileOrEmpty(err_file);
  return run;
}

TEST(RunExecutorTest, AMalformedLaunchMessageExits2) {
  ExecutorRun run = RunInChild("\x0a\xff");  // a length-delimited field cut short
  EXPECT_TRUE(run.exited(2)) << run.status;
  EXPECT_TRUE(absl::StrContains(run.err, "executor: malformed launch message")) << run.err;
  EXPECT_EQ(run.ready, "");
}

TEST(RunExecutorTest, TheEntryRunningMessageComesOnceTheModuleIsLoaded) {
  TempDir dir;
  const std::string events = dir.File("events");
  v1::ExecutorLaunch launch = LaunchOf("exit_ok", events);
  launch.mutable_logging_config()->set_level("info");  // its logging config is applied
  launch.mutable_logging_config()->add_handlers()->mutable_stderr();
  ExecutorRun run = RunInChild(launch.SerializeAsString());
  EXPECT_TRUE(run.exited(0)) << run.status << run.err;
  EXPECT_EQ(run.ready, kRunning);
  EXPECT_TRUE(absl::StartsWith(ReadFileOrEmpty(events), "started ")) << "the args reach the entry";
  EXPECT_TRUE(absl::StrContains(run.err, "entry test_module:exit_ok returned OK")) << run.err;
}

// kEntryRunning, then one kEntryError frame with fail_fast's status.
std::string FailedFast() {
  const std::string error = "INTERNAL: fail_fast always fails";
  std::string bytes = std::string(kRunning) + static_cast<char>(wire::Message::kEntryError);
  bytes.push_back(static_cast<char>(error.size()));
  bytes.append(3, '\0');
  return bytes + error;
}

TEST(RunExecutorTest, AnEntryThatFailsRanAndExits1) {
  ExecutorRun run = RunInChild(LaunchOf("fail_fast").SerializeAsString());
  EXPECT_TRUE(run.exited(1)) << run.status;
  // Then the entry's error, for the guardian (common/host/supervisor_report.h).
  EXPECT_EQ(run.ready, FailedFast());
  EXPECT_TRUE(absl::StrContains(run.err, "fail_fast always fails")) << run.err;
}

TEST(RunExecutorTest, AModuleThatCannotLoadIsReportedAndExits1WithoutTheMessage) {
  v1::ExecutorLaunch launch = LaunchOf("exit_ok");
  launch.set_resolved_entry("/nonexistent/libgone.so:exit_ok");
  ExecutorRun run = RunInChild(launch.SerializeAsString());
  EXPECT_TRUE(run.exited(1)) << run.status;
  EXPECT_EQ(run.ready, "");
  EXPECT_TRUE(absl::StrContains(run.err, "cannot run entry test_module:exit_ok")) << run.err;
  EXPECT_TRUE(absl::StrContains(run.err, "/nonexistent/libgone.so")) << run.err;
}

// A module whose static constructors crash takes the executor down before
// the message: the guardian tells that from an entry that ran.
TEST(RunExecutorTest, AModuleThatCrashesWhileLoadingSendsNoMessage) {
  v1::ExecutorLaunch launch;
  launch.set_daemon_entry("crash_on_load:never_runs");
  launch.set_resolved_entry(RunfilePath("testing/libcrash_on_load.so") + ":never_runs");
  ExecutorRun run = RunInChild(launch.SerializeAsString());
  EXPECT_TRUE(WIFSIGNALED(run.status) && WTERMSIG(run.status) == SIGSEGV) << run.status;
  EXPECT_EQ(run.ready, "");
}

TEST(ExecutorMainTest, WithoutAForkServerSocketExits2) {
  TempDir dir;
  const std::string err_file = dir.File("stderr");
  pid_t pid = fork();
  if (pid == 0) {
    int err = open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    dup2(err, 2);
    dup2(open("/dev/null", O_RDONLY | O_CLOEXEC), wire::kForkServerFd);  // not a socket
    _exit(ExecutorMain({}));
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << status;
  EXPECT_TRUE(absl::StrContains(ReadFileOrEmpty(err_file), "no fork-server socket on fd 3"))
      << ReadFileOrEmpty(err_file);
}

std::string ExecutorBinary() { return RunfilePath("executor/executor"); }

// The binary as the guardian uses it: each fork is an executor, our own
// child, that says when its entry runs.
TEST(ExecutorServerTest, EachForkIsAnExecutorThatSaysWhenItsEntryRuns) {
  auto server = ForkServer::Start(ExecutorBinary(), {});
  ASSERT_TRUE(server.ok()) << server.status();
  for (const char* function : {"exit_ok", "fail_fast"}) {
    Pipe ready;
    auto pid = (*server)->Fork(LaunchOf(function).SerializeAsString(),
                               {{1, 1}, {2, 2}, {ready.write_end.get(), wire::kExecutorReadyFd}});
    ASSERT_TRUE(pid.ok()) << pid.status();
    ready.write_end.reset();
    EXPECT_EQ(ReadAll(ready.read_end.get()).value_or(""),
              function == std::string("exit_ok") ? std::string(kRunning) : FailedFast())
        << function;
    int status = 0;
    ASSERT_EQ(waitpid(*pid, &status, 0), *pid);
    EXPECT_EQ(WEXITSTATUS(status), function == std::string("exit_ok") ? 0 : 1) << function;
  }
}

// A guardian killed by SIGKILL leaves its pid file and sockets: its
// executor fork server, the survivor, removes them. The guardian here is
// a stand-in: a child of this test that holds the pid file and started
// the server.
TEST(ExecutorServerTest, RemovesTheFilesOfAGuardianKilledBySigkill) {
  TempDir dir;
  const std::string pid_file = dir.File("d.pid");
  const std::string sockets[] = {dir.File("d.pid.sock"), dir.File("d.pid.workers.sock")};
  for (const std::string& socket : sockets) {
    ASSERT_TRUE(UniqueFd(open(socket.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600)));
  }
  Pipe told;
  pid_t guardian = fork();
  if (guardian == 0) {
    setenv("APPKIT_CGROUPS", "off", 1);  // no daemon cgroup to clear
    auto held = PidFile::Acquire(pid_file, getpid(), "guardian");
    if (!held.ok() || !held->file) _exit(3);
    auto server = ForkServer::Start(ExecutorBinary(), {pid_file, sockets[0], sockets[1]});
    if (!server.ok()) _exit(4);
    const pid_t server_pid = (*server)->pid();
    (void)!write(told.write_end.get(), &server_pid, sizeof(server_pid));
    for (;;) pause();
  }
  told.write_end.reset();
  pid_t server = 0;
  ASSERT_EQ(read(told.read_end.get(), &server, sizeof(server)), sizeof(server));
  ASSERT_TRUE(testing::FileExists(pid_file));
  kill(guardian, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(guardian, &status, 0), guardian);
  EXPECT_TRUE(WaitFor([&] { return !testing::FileExists(pid_file); })) << "stale pid file left";
  for (const std::string& socket : sockets) EXPECT_FALSE(testing::FileExists(socket)) << socket;
  EXPECT_TRUE(testing::WaitForExit(server)) << "the server ends with its guardian";
}

}  // namespace
}  // namespace appkit::executor
