// guardian/executor_launcher: what every executor is asked to run, the
// executor fork server's arguments, and launches through an EventLoop with
// a real fork server (common's test server stands for the executor
// binary): the answer, a child killed and reaped before its answer was
// read, a dead or a foreign adopted server replaced. (Whole daemons:
// client/start_daemon_test, fault_injection_test.)
#include "guardian/executor_launcher.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/time_format.h"
#include "common/process/pidfd.h"
#include "gtest/gtest.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit::guardian {
namespace {

v1::DaemonLaunch Daemon() {
  v1::DaemonLaunch launch;
  launch.set_pid_filename("/run/demo.pid");
  launch.set_guardian_socket("/run/demo.pid.sock");
  launch.set_controller_socket("/run/demo.pid.workers.sock");
  launch.set_daemon_entry("demo:main");
  launch.set_resolved_entry("/opt/demo/libdemo.so:main");
  (*launch.mutable_daemon_args()->mutable_fields())["k"].set_string_value("v");
  launch.mutable_logging_config()->set_level("DEBUG");
  *launch.mutable_restart_interval() = ToProtoDuration(absl::Seconds(1));
  launch.set_executor_path("/opt/appkit/executor");
  launch.set_worker_path("/opt/appkit/worker");
  launch.set_control_plane_path("/opt/appkit/libappkit_control_plane.so");
  launch.set_stdout_filename("/var/log/demo.out");
  launch.set_stderr_filename("/var/log/demo.err");
  launch.set_user_fd_limit(1024);
  return launch;
}

TEST(ExecutorLaunchTest, CarriesWhatTheExecutorNeedsFromTheDaemonLaunch) {
  const v1::ExecutorLaunch executor = ExecutorLaunchFor(Daemon(), 42);
  EXPECT_EQ(executor.daemon_entry(), "demo:main");
  EXPECT_EQ(executor.resolved_entry(), "/opt/demo/libdemo.so:main");
  EXPECT_EQ(executor.daemon_args().fields().at("k").string_value(), "v");
  EXPECT_EQ(executor.logging_config().level(), "DEBUG");
  EXPECT_EQ(executor.guardian_pid(), 42);
  EXPECT_EQ(executor.controller_socket(), "/run/demo.pid.workers.sock");
  EXPECT_EQ(executor.worker_path(), "/opt/appkit/worker");
  EXPECT_EQ(executor.control_plane_path(), "/opt/appkit/libappkit_control_plane.so");
  EXPECT_EQ(executor.stdout_filename(), "/var/log/demo.out");
  EXPECT_EQ(executor.stderr_filename(), "/var/log/demo.err");
  EXPECT_EQ(executor.user_fd_limit(), 1024u);
}

TEST(ExecutorLaunchTest, LeavesLoggingUnsetWhenTheDaemonHasNone) {
  v1::DaemonLaunch launch = Daemon();
  launch.clear_logging_config();
  EXPECT_FALSE(ExecutorLaunchFor(launch, 42).has_logging_config());
}

TEST(ExecutorLaunchTest, TheForkServerGetsTheGuardiansFilesToRemoveAfterASigkill) {
  EXPECT_EQ(ExecutorServerArgs(Daemon()),
            (std::vector<std::string>{"/run/demo.pid", "/run/demo.pid.sock",
                                      "/run/demo.pid.workers.sock"}));
}

// --- Launches through a loop -------------------------------------------

class LauncherTest : public ::testing::Test {
 protected:
  std::unique_ptr<ExecutorLauncher> Make(
      std::unique_ptr<ForkServer> adopted = nullptr,
      const std::string& executor = testing::RunfilePath("common/process/fork_server_test_server"),
      const v1::CommandLaunch* command = nullptr, bool entry_starts_workers = false) {
    v1::DaemonLaunch launch = Daemon();
    launch.set_executor_path(executor);
    launch.set_entry_starts_workers(entry_starts_workers);
    if (command != nullptr) {
      *launch.mutable_command() = *command;
      launch.set_notify_socket("@appkit-notify-test");
    }
    ExecutorLauncher::Callbacks callbacks;
    callbacks.spawned = [this](pid_t pid, const std::optional<ProcessExit>& gone) {
      spawned_ = pid;
      gone_ = gone;
      loop_.Stop();
    };
    callbacks.failed = [this](const std::string& why) {
      failed_ = why;
      loop_.Stop();
    };
    callbacks.entry_running = [this] { ++entry_running_; };
    return std::make_unique<ExecutorLauncher>(&loop_, launch, std::move(adopted),
                                              std::move(callbacks));
  }

  // Runs the loop until the launch is answered (bounded).
  void RunUntilAnswered() {
    EventLoop::TimerId bound =
        loop_.AddTimer(absl::Now() + absl::Seconds(20), [this] { loop_.Stop(); });
    loop_.Run();
    loop_.CancelTimer(bound);
    ASSERT_TRUE(spawned_ || failed_) << "no answer";
  }

  // A child of ours other than `but` (the fork server): the one forked.
  static pid_t WaitForChildBut(pid_t but) {
    pid_t found = 0;
    testing::WaitFor([&] {
      for (pid_t pid : ChildPids()) {
        if (pid != but) found = pid;
      }
      return found != 0;
    });
    return found;
  }

  static ProcessExit Reap(pid_t pid) {
    siginfo_t info = {};
    EXPECT_EQ(waitid(P_PID, pid, &info, WEXITED), 0);
    return ProcessExit::FromSiginfo(info);
  }

  void TearDown() override {
    // The launchers (and their servers) are gone; reap what is left.
    for (pid_t pid : ChildPids()) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }

  EventLoop loop_;
  std::optional<pid_t> spawned_;
  std::optional<ProcessExit> gone_;
  std::optional<std::string> failed_;
  int entry_running_ = 0;
};

// A command daemon (SPEC §10): the program is the guardian's own child,
// spawned from within Launch, set up as an executor would have been.
TEST_F(LauncherTest, ACommandsProgramIsSpawnedDirectlyWithItsSettings) {
  testing::TempDir dir;
  v1::CommandLaunch command;
  command.add_argv("sh");
  command.add_argv("-c");
  command.add_argv("env > env.txt; pwd -P > pwd.txt; ulimit -Sn > limit.txt; exec sleep 30");
  command.set_program("/bin/sh");
  (*command.mutable_environment())["APPKIT_LAUNCHER_TEST"] = "direct";
  command.set_working_directory(dir.path());
  auto launcher =
      Make(nullptr, testing::RunfilePath("common/process/fork_server_test_server"), &command);
  launcher->Launch(-1);
  ASSERT_TRUE(spawned_) << "not answered from within Launch: " << failed_.value_or("");
  EXPECT_FALSE(gone_);
  EXPECT_EQ(entry_running_, 1);
  EXPECT_EQ(launcher->server_pid(), 0) << "no fork server on the way to a program";
  EXPECT_EQ(getpgid(*spawned_), *spawned_) << "its own process group";
  ASSERT_TRUE(testing::WaitFor([&] {
    return testing::ReadFileOrEmpty(dir.File("limit.txt")).find('\n') != std::string::npos;
  }));
  const std::string env = testing::ReadFileOrEmpty(dir.File("env.txt"));
  EXPECT_NE(env.find("APPKIT_LAUNCHER_TEST=direct\n"), std::string::npos) << env;
  EXPECT_NE(env.find("NOTIFY_SOCKET=@appkit-notify-test\n"), std::string::npos) << env;
  char* real = realpath(dir.path().c_str(), nullptr);
  ASSERT_NE(real, nullptr);
  EXPECT_EQ(testing::ReadFileOrEmpty(dir.File("pwd.txt")), std::string(real) + "\n");
  free(real);
  EXPECT_EQ(testing::ReadFileOrEmpty(dir.File("limit.txt")), "1024\n");  // user_fd_limit
  kill(*spawned_, SIGKILL);
  const ProcessExit exit = Reap(*spawned_);
  EXPECT_FALSE(launcher->OnChildExited(*spawned_, exit));
  EXPECT_TRUE(launcher->TakeEntryRan());
  EXPECT_EQ(launcher->TakeError(), "");
}

// A program that cannot be spawned (gone since StartDaemon checked it) is
// asked of the executor, which records why as the run's error.
TEST_F(LauncherTest, AProgramThatCannotBeSpawnedGoesThroughTheExecutor) {
  testing::TempDir dir;
  v1::CommandLaunch command;
  command.add_argv("gone");
  command.set_program(dir.File("gone"));
  auto launcher =
      Make(nullptr, testing::RunfilePath("common/process/fork_server_test_server"), &command);
  launcher->Launch(-1);
  EXPECT_FALSE(spawned_) << "answered from within Launch";
  EXPECT_EQ(entry_running_, 0);
  EXPECT_GT(launcher->server_pid(), 0) << "no fork server was asked";
  RunUntilAnswered();
  ASSERT_TRUE(spawned_) << failed_.value_or("");
  EXPECT_NE(*spawned_, launcher->server_pid());
  Reap(*spawned_);
}

TEST_F(LauncherTest, AnswersWithTheExecutorsPid) {
  auto launcher = Make();
  ASSERT_TRUE(launcher->Prepare().ok());
  const pid_t server = launcher->server_pid();
  ASSERT_GT(server, 0);
  launcher->Launch(-1);
  RunUntilAnswered();
  ASSERT_TRUE(spawned_);
  EXPECT_FALSE(gone_);
  EXPECT_NE(*spawned_, server);
  const ProcessExit exit = Reap(*spawned_);  // our child (CLONE_PARENT)
  EXPECT_FALSE(exit.signaled);
  EXPECT_FALSE(launcher->OnChildExited(*spawned_, exit));  // not a server of ours
  EXPECT_FALSE(launcher->TakeEntryRan());  // the test server never says it runs an entry
}

// The race of an asynchronous spawn: the child is ours from its clone on,
// so it can be killed and reaped before the answer naming it is read. The
// answer then says so, whatever the order on the loop.
TEST_F(LauncherTest, AChildReapedBeforeItsAnswerWasReadIsAnsweredAsGone) {
  auto launcher = Make();
  ASSERT_TRUE(launcher->Prepare().ok());
  launcher->Launch(-1);  // sent; the answer is read only once the loop runs
  const pid_t child = WaitForChildBut(launcher->server_pid());
  ASSERT_GT(child, 0);
  kill(child, SIGKILL);
  const ProcessExit exit = Reap(child);
  EXPECT_FALSE(launcher->OnChildExited(child, exit));  // not a fork server
  RunUntilAnswered();
  ASSERT_TRUE(spawned_);
  EXPECT_EQ(*spawned_, child);
  ASSERT_TRUE(gone_);
  EXPECT_TRUE(gone_->signaled);
  EXPECT_EQ(gone_->code, SIGKILL);
}

TEST_F(LauncherTest, AChildReapedAfterTheAnswerIsNotRememberedForTheNext) {
  auto launcher = Make();
  ASSERT_TRUE(launcher->Prepare().ok());
  launcher->Launch(-1);
  RunUntilAnswered();
  ASSERT_TRUE(spawned_);
  const pid_t first = *spawned_;
  EXPECT_FALSE(launcher->OnChildExited(first, Reap(first)));
  spawned_.reset();
  launcher->Launch(-1);
  RunUntilAnswered();
  ASSERT_TRUE(spawned_);
  EXPECT_FALSE(gone_);
  Reap(*spawned_);
}

// An executor prestarts a worker fork server when the entry's module
// calls StartWorkers, else not (unless its predecessor started a pool: the
// test server reports none). The test server's children exit with their
// request's length.
TEST_F(LauncherTest, ExecutorsPrestartAWorkerForkServerWhenTheEntryStartsWorkers) {
  v1::DaemonLaunch daemon = Daemon();
  daemon.set_executor_path(testing::RunfilePath("common/process/fork_server_test_server"));
  v1::ExecutorLaunch plain = ExecutorLaunchFor(daemon, getpid());
  ASSERT_FALSE(plain.prestart_worker_server());
  v1::ExecutorLaunch prestarting = plain;
  prestarting.set_prestart_worker_server(true);
  const int plain_code = static_cast<int>(plain.ByteSizeLong() % 256);
  const int prestarting_code = static_cast<int>(prestarting.ByteSizeLong() % 256);
  for (bool starts_workers : {false, true}) {
    auto launcher = Make(nullptr, testing::RunfilePath("common/process/fork_server_test_server"),
                         nullptr, starts_workers);
    ASSERT_TRUE(launcher->Prepare().ok());
    std::vector<int> codes;
    for (int run = 0; run < 2; ++run) {
      spawned_.reset();
      launcher->Launch(-1);
      RunUntilAnswered();
      ASSERT_TRUE(spawned_) << failed_.value_or("");
      const ProcessExit exit = Reap(*spawned_);
      EXPECT_FALSE(launcher->OnChildExited(*spawned_, exit));
      launcher->TakeEntryRan();
      codes.push_back(exit.code);
    }
    const int expected = starts_workers ? prestarting_code : plain_code;
    EXPECT_EQ(codes, (std::vector<int>{expected, expected})) << starts_workers;
  }
}

TEST_F(LauncherTest, AForkServerThatDiedIsReplacedOnTheNextLaunch) {
  auto launcher = Make();
  ASSERT_TRUE(launcher->Prepare().ok());
  const pid_t server = launcher->server_pid();
  kill(server, SIGKILL);
  EXPECT_TRUE(launcher->OnChildExited(server, Reap(server)));
  EXPECT_EQ(launcher->server_pid(), 0);
  launcher->Launch(-1);
  RunUntilAnswered();
  ASSERT_TRUE(spawned_) << failed_.value_or("");
  EXPECT_NE(launcher->server_pid(), server);
  EXPECT_GT(launcher->server_pid(), 0);
  Reap(*spawned_);
}

TEST_F(LauncherTest, AForkServerThatDiesUnnoticedIsReplacedOnceWithinTheLaunch) {
  auto launcher = Make();
  ASSERT_TRUE(launcher->Prepare().ok());
  const pid_t server = launcher->server_pid();
  kill(server, SIGKILL);
  ASSERT_TRUE(testing::WaitFor([&] {  // a zombie, not reaped: nobody told the launcher
    siginfo_t info = {};
    return waitid(P_PID, server, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == server;
  }));
  launcher->Launch(-1);  // answered Unavailable, then retried with a new server
  RunUntilAnswered();
  ASSERT_TRUE(spawned_) << failed_.value_or("");
  EXPECT_NE(launcher->server_pid(), server);
  Reap(*spawned_);
}

// StartDaemon's companion server may have failed its exec and not be a
// zombie yet when the guardian adopts it: Prepare must not take it for a
// fork server (whatever the timing): one not running the executor binary
// is replaced by one that does.
TEST_F(LauncherTest, AnAdoptedProcessNotRunningTheExecutorIsReplaced) {
  SpawnOptions options;
  options.argv = {"/bin/sleep", "1000"};
  auto impostor = Spawn(options);
  ASSERT_TRUE(impostor.ok()) << impostor.status();
  int ends[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends), 0);
  close(ends[1]);
  setenv(ForkServer::kServerPidEnv, std::to_string(*impostor).c_str(), 1);
  std::unique_ptr<ForkServer> adopted = ForkServer::Adopt(ends[0]);
  ASSERT_NE(adopted, nullptr);
  auto launcher = Make(std::move(adopted));
  ASSERT_TRUE(launcher->Prepare().ok());
  EXPECT_NE(launcher->server_pid(), *impostor);
  launcher->Launch(-1);
  RunUntilAnswered();
  ASSERT_TRUE(spawned_) << failed_.value_or("");
  Reap(*spawned_);
  launcher.reset();  // reaps the retired impostor
  EXPECT_FALSE(testing::ProcessAlive(*impostor));
}

TEST_F(LauncherTest, AnExecutorBinaryThatCannotStartFailsPrepare) {
  auto launcher = Make(nullptr, "/nonexistent/executor");
  const absl::Status prepared = launcher->Prepare();
  EXPECT_FALSE(prepared.ok());
  EXPECT_NE(prepared.message().find("cannot start the executor binary /nonexistent/executor"),
            std::string::npos)
      << prepared;
}

}  // namespace
}  // namespace appkit::guardian
