// `appkitctl watch` against real daemons: its lines across a worker crash,
// a restart and a quit, --json, the end on SIGINT/SIGTERM, and its errors
// with their exit codes. The CLI runs as a separate process.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "client/testing.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"
#include "testing/watch_client.h"

namespace appkit {
namespace {

using ::appkit::testing::ReadFileOrEmpty;
using ::appkit::testing::TestDaemon;
using ::appkit::testing::WaitFor;
using Json = nlohmann::json;

constexpr absl::Duration kWait = absl::Seconds(20);

std::string Module() { return ::appkit::testing::RunfilePath("testing/libtest_module.so"); }

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// appkitctl running in the background, its stdout and stderr in files.
class Ctl {
 public:
  Ctl(const TestDaemon& daemon, std::vector<std::string> args)
      : out_(daemon.Path("ctl.out")), err_(daemon.Path("ctl.err")) {
    args.insert(args.begin(), ::appkit::testing::RunfilePath("client/appkitctl"));
    pid_ = fork();
    if (pid_ == 0) {
      int out = open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int err = open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(out, 1);
      dup2(err, 2);
      std::vector<char*> argv;
      for (std::string& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~Ctl() {
    if (!exit_code_ && pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  std::string out() const { return ReadFileOrEmpty(out_); }
  std::string err() const { return ReadFileOrEmpty(err_); }
  std::vector<std::string> lines() const { return absl::StrSplit(out(), '\n', absl::SkipEmpty()); }
  bool WaitForOutput(const std::string& part) {
    return WaitFor([&] { return Has(out(), part); }, kWait);
  }
  // Its exit code once it exited (-1: killed by a signal), or nothing.
  std::optional<int> WaitForExit() {
    WaitFor(
        [&] {
          int status;
          if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
          exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
          return true;
        },
        kWait);
    return exit_code_;
  }

 private:
  const std::string out_, err_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

DaemonOptions PoolOptions(const TestDaemon& daemon) {
  DaemonOptions options = daemon.Options(Module() + ":run_workers");
  Json pool = {{"workers", Json::array()}, {"restart_interval_ms", 100}};
  for (const char* name : {"w1", "w2"}) {
    pool["workers"].push_back({{"name", name},
                               {"entry", Module() + ":run_until_quit"},
                               {"pid_filename", daemon.Path(std::string(name) + ".pid")}});
  }
  options.daemon_args = *Args::FromJson(pool.dump());
  return options;
}

// The index of the first line with every part, from `from`; -1 if none.
int LineWith(const std::vector<std::string>& lines, const std::vector<std::string>& parts,
             int from = 0) {
  for (int i = from; i < static_cast<int>(lines.size()); ++i) {
    bool all = true;
    for (const std::string& part : parts) all = all && Has(lines[i], part);
    if (all) return i;
  }
  return -1;
}

TEST(AppkitctlWatchTest, FollowsAWorkerCrashRestartAndTheStopThenExitsZero) {
  TestDaemon daemon;
  ASSERT_TRUE(daemon.Start(PoolOptions(daemon)).ok());
  auto workers = daemon.WaitForWorkers(2);
  ASSERT_TRUE(workers.ok()) << workers.status();
  const pid_t w1 = static_cast<pid_t>(workers->workers(0).current().pid());

  Ctl watch(daemon, {"watch", "--pid-file", daemon.Path("daemon.pid"), "--workers"});
  ASSERT_TRUE(watch.WaitForOutput("w2  ")) << watch.out() << watch.err();
  ASSERT_EQ(kill(w1, SIGKILL), 0);
  ASSERT_TRUE(watch.WaitForOutput("STARTED")) << watch.out() << watch.err();
  ASSERT_TRUE(daemon.Stop().ok());
  std::optional<int> code = watch.WaitForExit();
  ASSERT_TRUE(code.has_value()) << watch.out();
  EXPECT_EQ(*code, 0) << watch.err();

  const std::vector<std::string> lines = watch.lines();
  std::string all = watch.out();
  SCOPED_TRACE(all);
  // The snapshot first: the executor, then each worker.
  EXPECT_GE(LineWith(lines, {"executor", "SNAPSHOT", "RUNNING"}), 0);
  EXPECT_GE(LineWith(lines, {"w1", "SNAPSHOT", "RUNNING", std::to_string(w1)}), 0);
  // w1's crash and restart, in order, with what happened in words.
  const int exited = LineWith(lines, {"w1", "EXITED", "WAITING_TO_RESTART", std::to_string(w1),
                                      "killed by signal 9 (SIGKILL)"});
  ASSERT_GE(exited, 0);
  const int scheduled = LineWith(lines, {"w1", "RESTART_SCHEDULED", "restart in"}, exited);
  ASSERT_GT(scheduled, exited);
  const int started = LineWith(lines, {"w1", "STARTED"}, scheduled);
  ASSERT_GT(started, scheduled);
  // The stop: the daemon's quit, the workers', and the end. (The two
  // streams interleave as they come: order holds within each.)
  EXPECT_GE(LineWith(lines, {"executor", "QUIT_REQUESTED", "STOPPING", "RequestQuit"}), 0);
  const int w2_quit = LineWith(lines, {"w2", "QUIT_REQUESTED", "STOPPING"});
  EXPECT_GT(w2_quit, started);
  EXPECT_GT(LineWith(lines, {"w2", "STOPPED"}), w2_quit);
  EXPECT_EQ(LineWith(lines, {"executor", "STOPPED", "EXITED"}), static_cast<int>(lines.size()) - 1);
  // A line: the time (UTC, ms), then the columns.
  EXPECT_EQ(lines[0].substr(4, 1), "-");
  EXPECT_EQ(lines[0].substr(19, 1), ".");
  EXPECT_TRUE(Has(watch.err(), "the worker pool's stream ended")) << watch.err();
  EXPECT_TRUE(daemon.CheckNothingLeft().ok());
}

TEST(AppkitctlWatchTest, JsonLinesAndAnEndOnSigint) {
  TestDaemon daemon;
  DaemonOptions options = daemon.Options(Module() + ":run_until_quit");
  options.restart_interval = absl::Milliseconds(100);
  ASSERT_TRUE(daemon.Start(options).ok());
  ASSERT_TRUE(daemon.WaitUntilRunning().ok());
  const pid_t executor = static_cast<pid_t>(daemon.Status()->executor().pid());

  Ctl watch(daemon, {"watch", "--pid-file", daemon.Path("daemon.pid"), "--json"});
  ASSERT_TRUE(watch.WaitForOutput("snapshot")) << watch.out() << watch.err();
  ASSERT_EQ(kill(executor, SIGKILL), 0);
  ASSERT_TRUE(watch.WaitForOutput("EVENT_KIND_STARTED")) << watch.out() << watch.err();
  ASSERT_EQ(kill(watch.pid(), SIGINT), 0);
  std::optional<int> code = watch.WaitForExit();
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << watch.err();

  const std::vector<std::string> lines = watch.lines();
  ASSERT_GE(lines.size(), 4u) << watch.out();
  Json first = Json::parse(lines[0]);
  EXPECT_EQ(first["stream"], "daemon");
  EXPECT_EQ(first["snapshot"]["executor"]["pid"], executor);  // a number
  for (size_t i = 1; i < lines.size(); ++i) {
    Json line = Json::parse(lines[i]);
    EXPECT_EQ(line["event"]["sequence"], i) << lines[i];
    EXPECT_EQ(line["event"]["subject"], "executor");
  }
  Json exited = Json::parse(lines[1]);
  EXPECT_EQ(exited["event"]["kind"], "EVENT_KIND_EXITED");
  EXPECT_EQ(exited["event"]["pid"], executor);
  EXPECT_EQ(exited["event"]["exitcode"], -9);
  // The daemon runs on; SIGTERM ends a watch cleanly too.
  Ctl again(daemon, {"watch", "--pid-file", daemon.Path("daemon.pid")});
  ASSERT_TRUE(again.WaitForOutput("SNAPSHOT")) << again.err();
  ASSERT_EQ(kill(again.pid(), SIGTERM), 0);
  code = again.WaitForExit();
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << again.err();
  ASSERT_TRUE(daemon.Stop().ok());
}

TEST(AppkitctlWatchTest, ErrorsSayWhyWithTheirExitCodes) {
  TestDaemon daemon;
  // Not running: exit 3, says so.
  {
    Ctl watch(daemon, {"watch", "--pid-file", daemon.Path("daemon.pid")});
    std::optional<int> code = watch.WaitForExit();
    ASSERT_TRUE(code.has_value());
    EXPECT_EQ(*code, 3);
    EXPECT_TRUE(Has(watch.err(), "daemon not running")) << watch.err();
    EXPECT_TRUE(Has(watch.err(), daemon.Path("daemon.pid"))) << watch.err();
  }
  ASSERT_TRUE(daemon.Start(daemon.Options(Module() + ":run_until_quit")).ok());
  ASSERT_TRUE(daemon.WaitUntilRunning().ok());
  // --workers on a daemon without a pool: exit 1, says what to do.
  {
    Ctl watch(daemon, {"watch", "--pid-file", daemon.Path("daemon.pid"), "--workers"});
    std::optional<int> code = watch.WaitForExit();
    ASSERT_TRUE(code.has_value());
    EXPECT_EQ(*code, 1);
    EXPECT_TRUE(Has(watch.err(), "runs no worker pool")) << watch.err();
    EXPECT_TRUE(Has(watch.err(), "without --workers")) << watch.err();
  }
  // An option watch does not take: usage, exit 2.
  {
    Ctl watch(daemon, {"watch", "--pid-file", daemon.Path("daemon.pid"), "--all"});
    std::optional<int> code = watch.WaitForExit();
    ASSERT_TRUE(code.has_value());
    EXPECT_EQ(*code, 2);
    EXPECT_TRUE(Has(watch.err(), "--all does not go with watch")) << watch.err();
  }
  ASSERT_TRUE(daemon.Stop().ok());
}

// A watch that cannot keep up (stopped with SIGSTOP while the executor
// crash-loops) is cut by the daemon: exit 1, and it says so.
TEST(AppkitctlWatchTest, AWatchThatFellBehindExitsOneAndSaysSo) {
  TestDaemon daemon;
  DaemonOptions options = daemon.Options(Module() + ":crash");
  options.restart_interval = absl::Milliseconds(5);
  ASSERT_TRUE(daemon.Start(options).ok());
  Ctl watch(daemon, {"watch", "--pid-file", daemon.Path("daemon.pid")});
  ASSERT_TRUE(watch.WaitForOutput("SNAPSHOT")) << watch.err();
  auto stub = std::shared_ptr<v1::Guardian::Stub>(daemon.Guardian());
  ::appkit::testing::WatchClient<v1::GuardianEvent> healthy(
      [stub](grpc::ClientContext* context) { return stub->Watch(context, v1::WatchRequest()); });
  ASSERT_TRUE(healthy.WaitForSnapshot(kWait));
  ASSERT_EQ(kill(watch.pid(), SIGSTOP), 0);
  // Enough for its socket buffers, its HTTP/2 windows and its queue.
  ASSERT_TRUE(healthy.WaitFor([](const auto& events) { return events.size() >= 4000; },
                              absl::Seconds(120)));
  ASSERT_EQ(kill(watch.pid(), SIGCONT), 0);
  std::optional<int> code = watch.WaitForExit();
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 1);
  EXPECT_TRUE(Has(watch.err(), "the daemon cut this watcher")) << watch.err();
  EXPECT_TRUE(Has(watch.err(), "fell behind")) << watch.err();
  ASSERT_TRUE(daemon.Stop().ok());
}

}  // namespace
}  // namespace appkit
