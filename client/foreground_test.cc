// Foreground mode (SPEC §10): `appkitctl run NAME` as PID 1 of a new PID
// namespace (unshare --pid --fork), stopped by real signals, reaping the
// orphans the kernel gives it; and RunDaemon itself in a child process
// (no pid file, exit status, errors).
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <optional>

#include "absl/strings/str_cat.h"
#include "client/appkit.h"
#include "gtest/gtest.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

extern char** environ;

namespace appkit {
namespace {

using ::appkit::testing::ChildrenOf;
using ::appkit::testing::CommandResult;
using ::appkit::testing::PidOfEvent;
using ::appkit::testing::ReadFileOrEmpty;
using ::appkit::testing::RunCommand;
using ::appkit::testing::WaitFor;
using ::appkit::testing::WaitForExit;

std::string Module() { return testing::RunfilePath("testing/libtest_module.so"); }
std::string Appkitctl() { return testing::RunfilePath("client/appkitctl"); }

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// How this machine lets us make a PID namespace: plain (root), or inside a
// new user namespace; empty when neither works.
std::vector<std::string> UnshareArgs(std::string* why) {
  for (std::vector<std::string> args :
       {std::vector<std::string>{"/usr/bin/unshare", "--pid", "--fork", "--kill-child"},
        std::vector<std::string>{"/usr/bin/unshare", "--user", "--map-root-user", "--pid", "--fork",
                                 "--kill-child"}}) {
    std::vector<std::string> probe = args;
    probe.push_back("/bin/true");
    CommandResult result = RunCommand(probe);
    if (result.exit_code == 0) return args;
    absl::StrAppend(why, result.err);
  }
  return {};
}

// A child of the test, waited for with a deadline; SIGKILLed if left.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    posix_spawnp(&pid_, args[0], nullptr, nullptr, args.data(), environ);
  }
  ~Child() {
    if (pid_ > 0 && !status_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  // The exit code (128+N for a signal, as a shell says), or nullopt.
  std::optional<int> Wait(absl::Duration timeout = absl::Seconds(30)) {
    if (status_) return status_;
    if (!WaitForExit(pid_, timeout)) return std::nullopt;
    int status = 0;
    if (waitpid(pid_, &status, 0) != pid_) return std::nullopt;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return status_;
  }

 private:
  pid_t pid_ = 0;
  std::optional<int> status_;
};

class ForegroundTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    unshare_ = UnshareArgs(&why);
    if (unshare_.empty()) GTEST_SKIP() << "no PID namespace can be made here: " << why;
  }

  // daemons.yaml with one daemon "demo" running `entry` of the test module.
  std::string Config(const std::string& entry, const std::string& extra = "") {
    const std::string path = dir_.File("daemons.yaml");
    std::ofstream(path) << "demo:\n  entry: " << Module() << ":" << entry << "\n"
                        << "  args: {events: " << events() << "}\n"
                        << extra;
    return path;
  }
  std::string events() const { return dir_.File("demo.events"); }
  std::string state() const { return dir_.File("appkit-state/demo"); }

  // `appkitctl --config F run demo` as PID 1 of a new PID namespace.
  std::unique_ptr<Child> RunAsPidOne(const std::string& config) {
    std::vector<std::string> argv = unshare_;
    for (const std::string& arg :
         {Appkitctl(), std::string("--config"), config, std::string("run"), std::string("demo")}) {
      argv.push_back(arg);
    }
    auto child = std::make_unique<Child>(argv);
    // unshare's one child is our PID 1.
    EXPECT_TRUE(WaitFor([&] { return ChildrenOf(child->pid()).size() == 1; }));
    std::vector<pid_t> children = ChildrenOf(child->pid());
    pid_one_ = children.empty() ? 0 : children[0];
    return child;
  }

  // Children of PID 1 that are not its guardian (its first child).
  std::vector<pid_t> Orphans() {
    std::vector<pid_t> children = ChildrenOf(pid_one_);
    if (!children.empty()) children.erase(children.begin());
    return children;
  }

  // Runs `script` with /bin/sh in PID 1's namespace (as `docker exec`).
  CommandResult InNamespace(const std::string& script) {
    std::vector<std::string> argv = {"/usr/bin/nsenter", "--target", std::to_string(pid_one_),
                                     "--pid"};
    if (unshare_.size() > 4) {
      argv.insert(argv.begin() + 3, {"--user", "--preserve-credentials"});
    }
    for (const std::string& arg : {std::string("/bin/sh"), std::string("-c"), script}) {
      argv.push_back(arg);
    }
    return RunCommand(argv);
  }

  testing::TempDir dir_;
  std::vector<std::string> unshare_;
  pid_t pid_one_ = 0;
};

TEST_F(ForegroundTest, PidOneStoppedBySigtermExitsWithTheEntrysStatus) {
  auto run = RunAsPidOne(Config("run_until_quit"));
  ASSERT_GT(pid_one_, 0);
  ASSERT_TRUE(WaitFor([&] { return PidOfEvent(events(), "started") != 0; }))
      << ReadFileOrEmpty(dir_.File("appkit-state/demo/demo-err.txt"));
  // Inside the namespace the daemon's processes see themselves as pids
  // 2, 3... and appkitctl as 1.
  EXPECT_EQ(ReadFileOrEmpty(state() + "/demo.pid"), "2\n");
  ASSERT_EQ(kill(pid_one_, SIGTERM), 0);
  EXPECT_EQ(run->Wait(), 0);
  EXPECT_NE(PidOfEvent(events(), "quit"), 0) << "the entry saw its quit: SIGTERM was forwarded";
  EXPECT_FALSE(testing::FileExists(state() + "/demo.pid"));
  EXPECT_FALSE(testing::FileExists(state() + "/demo.pid.sock"));
}

TEST_F(ForegroundTest, SigintIsForwardedToo) {
  auto run = RunAsPidOne(Config("run_until_quit"));
  ASSERT_TRUE(WaitFor([&] { return PidOfEvent(events(), "started") != 0; }));
  ASSERT_EQ(kill(pid_one_, SIGINT), 0);
  EXPECT_EQ(run->Wait(), 0);
  EXPECT_NE(PidOfEvent(events(), "quit"), 0);
}

TEST_F(ForegroundTest, SighupReachesTheGuardianWhichReopensItsFiles) {
  auto run = RunAsPidOne(Config("run_until_quit"));
  ASSERT_TRUE(WaitFor([&] { return PidOfEvent(events(), "started") != 0; }));
  ASSERT_EQ(kill(pid_one_, SIGHUP), 0);
  EXPECT_TRUE(WaitFor([&] {
    return Has(ReadFileOrEmpty(state() + "/demo.log"), "SIGHUP: reopened");
  })) << ReadFileOrEmpty(state() + "/demo.log");
  EXPECT_EQ(PidOfEvent(events(), "quit"), 0) << "SIGHUP is no quit";
  ASSERT_EQ(kill(pid_one_, SIGTERM), 0);
  EXPECT_EQ(run->Wait(), 0);
}

TEST_F(ForegroundTest, PidOneReapsOrphansItIsGiven) {
  auto run = RunAsPidOne(Config("run_until_quit"));
  ASSERT_TRUE(WaitFor([&] { return PidOfEvent(events(), "started") != 0; }));
  ASSERT_TRUE(Orphans().empty());
  // An orphaned grandchild: its parent exits at once and nobody in the
  // namespace is a subreaper above it, so the kernel gives it to PID 1.
  // It exits 300 ms later: a zombie until PID 1 reaps it.
  CommandResult exec = InNamespace("sleep 0.3 & exit 0");
  ASSERT_EQ(exec.exit_code, 0) << exec.err;
  EXPECT_TRUE(WaitFor([&] { return !Orphans().empty(); })) << "re-parented to PID 1";
  EXPECT_TRUE(WaitFor([&] { return Orphans().empty(); })) << "reaped, not left a zombie";
  // Several at once.
  exec = InNamespace("for i in 1 2 3 4 5; do (sleep 0.2 &) ; done; exit 0");
  ASSERT_EQ(exec.exit_code, 0) << exec.err;
  EXPECT_TRUE(WaitFor([&] { return Orphans().empty(); }));
  ASSERT_EQ(kill(pid_one_, SIGTERM), 0);
  EXPECT_EQ(run->Wait(), 0);
}

TEST_F(ForegroundTest, AnEntryKilledBySignalNExitsWith128PlusN) {
  auto run = RunAsPidOne(Config("crash"));  // raise(SIGSEGV), no restart
  EXPECT_EQ(run->Wait(), 128 + SIGSEGV);
  EXPECT_NE(PidOfEvent(events(), "started"), 0);
  EXPECT_FALSE(testing::FileExists(state() + "/demo.pid"));
}

TEST_F(ForegroundTest, AnEntrysExitCodeIsTheExitCode) {
  auto run = RunAsPidOne(Config("exit_code", "  restart_interval_seconds: null\n"));
  EXPECT_EQ(run->Wait(), 1);  // exit_code without a "code" arg: _exit(1)
  EXPECT_NE(PidOfEvent(events(), "started"), 0);
}

TEST_F(ForegroundTest, RunOfAnUnknownDaemonSaysSo) {
  CommandResult result = RunCommand({Appkitctl(), "--config", Config("exit_ok"), "run", "nope"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(Has(result.err, "nope")) << result.err;
}

}  // namespace
}  // namespace appkit
