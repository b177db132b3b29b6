// RunDaemon (client/appkit.h) through the API, in a child process of the
// test (it takes over its caller's signals and children): the entry's exit
// status, no pid file, and what it tells a (fake) systemd: READY=1,
// WATCHDOG=1, STOPPING=1 from the main pid; StartDaemon's MAINPID=. Its
// errors, in this process: nothing is left behind.
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/appkit.h"
#include "common/process/notify_socket.h"
#include "gtest/gtest.h"
#include "testing/forked_child.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::PidOfEvent;
using ::appkit::testing::ReadFileOrEmpty;
using ::appkit::testing::WaitFor;
using ::appkit::testing::WaitForExit;

std::string Module() { return testing::RunfilePath("testing/libtest_module.so"); }

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// RunDaemon(options) in a child; `env` set there first. Exit 250: it
// returned an error (printed).
class ForegroundChild : public testing::ForkedChild {
 public:
  ForegroundChild(const DaemonOptions& options,
                  const std::vector<std::pair<std::string, std::string>>& env)
      : ForkedChild([&] {
          for (const auto& [name, value] : env) setenv(name.c_str(), value.c_str(), 1);
          absl::StatusOr<int> status = RunDaemon(options);
          if (status.ok()) return *status;
          fprintf(stderr, "RunDaemon: %s\n", std::string(status.status().message()).c_str());
          return 250;
        }) {}
};

// What a fake systemd received: "READY=1" lines with their sender, until
// `want` is among them or the deadline passes.
struct Received {
  pid_t sender;
  std::string state;
};
bool ReceiveUntil(NotifySocket& socket, std::vector<Received>& got, const std::string& want,
                  absl::Duration timeout = absl::Seconds(15)) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    for (const NotifySocket::Message& message : socket.ReadPending()) {
      for (const auto& [key, value] : message.fields) {
        got.push_back({message.sender, key + "=" + value});
      }
    }
    for (const Received& r : got) {
      if (r.state == want) return true;
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd pfd = {socket.fd(), POLLIN, 0};
    poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
  }
}

int Count(const std::vector<Received>& got, const std::string& state) {
  int n = 0;
  for (const Received& r : got) n += r.state == state;
  return n;
}

class RunDaemonTest : public ::testing::Test {
 protected:
  DaemonOptions Options(const std::string& entry) {
    DaemonOptions options;
    options.pid_filename = dir_.File("fg.pid");
    options.daemon_entry = Module() + ":" + entry;
    options.daemon_args.Set("events", dir_.File("events"));
    options.stderr_filename = dir_.File("err.txt");
    return options;
  }
  std::string events() const { return dir_.File("events"); }

  testing::TempDir dir_;
};

TEST_F(RunDaemonTest, ReturnsTheEntrysExitCodeWithoutAPidFile) {
  DaemonOptions options = Options("exit_code");
  options.pid_filename.clear();
  options.name = "nopid";
  options.daemon_args.Set("code", 7);
  const std::string runtime = dir_.File("runtime");
  std::filesystem::create_directory(runtime);
  ForegroundChild child(options, {{"XDG_RUNTIME_DIR", runtime}});
  EXPECT_EQ(child.Wait(), 7) << ReadFileOrEmpty(dir_.File("err.txt"));
  EXPECT_NE(PidOfEvent(events(), "started"), 0);
  // Its private directory held the pid file and sockets, and is gone.
  EXPECT_TRUE(std::filesystem::is_empty(runtime));
}

TEST_F(RunDaemonTest, TellsSystemdReadyWatchdogAndStoppingFromTheMainPid) {
  auto systemd = NotifySocket::Create();
  ASSERT_TRUE(systemd.ok()) << systemd.status();
  ForegroundChild child(Options("run_until_quit"),
                        {{"NOTIFY_SOCKET", (*systemd)->address()}, {"WATCHDOG_USEC", "200000"}});
  std::vector<Received> got;
  ASSERT_TRUE(ReceiveUntil(**systemd, got, "READY=1")) << ReadFileOrEmpty(dir_.File("err.txt"));
  ASSERT_TRUE(WaitFor([&] { return PidOfEvent(events(), "started") != 0; }))
      << "READY=1 once the entry runs";
  // WATCHDOG=1 every 100 ms (half of WATCHDOG_USEC): a few of them.
  EXPECT_TRUE(WaitFor([&] {
    ReceiveUntil(**systemd, got, "", absl::Milliseconds(50));
    return Count(got, "WATCHDOG=1") >= 3;
  }));
  EXPECT_EQ(Count(got, "STOPPING=1"), 0);
  // The entry must not talk to systemd itself (it is not the main pid).
  const pid_t entry = PidOfEvent(events(), "started");
  EXPECT_FALSE(
      Has(ReadFileOrEmpty(absl::StrCat("/proc/", entry, "/environ")), (*systemd)->address()));
  ASSERT_EQ(kill(child.pid(), SIGTERM), 0);
  EXPECT_TRUE(ReceiveUntil(**systemd, got, "STOPPING=1"));
  EXPECT_EQ(child.Wait(), 0);
  EXPECT_EQ(Count(got, "READY=1"), 1);
  for (const Received& r : got) EXPECT_EQ(r.sender, child.pid()) << r.state;
}

TEST_F(RunDaemonTest, NoWatchdogWithoutWatchdogUsecOrForAnotherPid) {
  auto systemd = NotifySocket::Create();
  ASSERT_TRUE(systemd.ok()) << systemd.status();
  ForegroundChild child(Options("run_until_quit"), {{"NOTIFY_SOCKET", (*systemd)->address()},
                                                    {"WATCHDOG_USEC", "100000"},
                                                    {"WATCHDOG_PID", "1"}});
  std::vector<Received> got;
  ASSERT_TRUE(ReceiveUntil(**systemd, got, "READY=1"));
  ReceiveUntil(**systemd, got, "", absl::Milliseconds(300));  // 6 periods
  EXPECT_EQ(Count(got, "WATCHDOG=1"), 0);
  kill(child.pid(), SIGTERM);
  EXPECT_EQ(child.Wait(), 0);
}

TEST_F(RunDaemonTest, StartDaemonTellsSystemdTheMainPid) {
  auto systemd = NotifySocket::Create();
  ASSERT_TRUE(systemd.ok()) << systemd.status();
  setenv("NOTIFY_SOCKET", (*systemd)->address().c_str(), 1);
  DaemonStartResult result = StartDaemon(Options("run_until_quit"));
  unsetenv("NOTIFY_SOCKET");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
  testing::ProcessReaper reaper;
  reaper.Track(*result.pid);
  std::vector<Received> got;
  EXPECT_TRUE(ReceiveUntil(**systemd, got, absl::StrCat("MAINPID=", *result.pid)));
  kill(*result.pid, SIGTERM);
  EXPECT_TRUE(WaitForExit(*result.pid));
}

TEST_F(RunDaemonTest, ABadHealthListenIsRefusedNamingIt) {
  DaemonOptions options = Options("run_until_quit");
  for (const char* bad : {"8081", ":8081", "localhost:http", "0.0.0.0:70000", "::1:80"}) {
    options.health_listen = bad;
    absl::StatusOr<int> status = RunDaemon(options);
    ASSERT_FALSE(status.ok()) << bad;
    EXPECT_EQ(status.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(Has(std::string(status.status().message()), "health_listen")) << status.status();
    EXPECT_TRUE(Has(std::string(status.status().message()), bad)) << status.status();
    DaemonStartResult start = StartDaemon(options);
    EXPECT_EQ(start.status, DaemonRunStatus::kLaunchFailed);
    EXPECT_TRUE(Has(start.error, "health_listen")) << start.error;
  }
  EXPECT_FALSE(testing::FileExists(dir_.File("fg.pid")));
  EXPECT_FALSE(testing::FileExists(dir_.File("fg.pid.sock")));
}

TEST_F(RunDaemonTest, ADaemonAlreadyRunningIsAnErrorAndLeftAlone) {
  DaemonStartResult first = StartDaemon(Options("run_until_quit"));
  ASSERT_EQ(first.status, DaemonRunStatus::kLaunched) << first.error;
  testing::ProcessReaper reaper;
  reaper.Track(*first.pid);
  absl::StatusOr<int> second = RunDaemon(Options("run_until_quit"));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(Has(std::string(second.status().message()), dir_.File("fg.pid")));
  EXPECT_TRUE(Has(std::string(second.status().message()), std::to_string(*first.pid)));
  EXPECT_TRUE(testing::ProcessAlive(*first.pid));
  // RunDaemon gave back the signal mask it found: SIGTERM is not blocked.
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  EXPECT_FALSE(sigismember(&mask, SIGTERM));
  kill(*first.pid, SIGTERM);
  EXPECT_TRUE(WaitForExit(*first.pid));
}

TEST_F(RunDaemonTest, ABadEntryIsAnErrorBeforeAnythingStarts) {
  DaemonOptions options = Options("no_such_entry");
  options.daemon_entry = dir_.File("libmissing.so") + ":main";
  absl::StatusOr<int> status = RunDaemon(options);
  ASSERT_FALSE(status.ok());
  EXPECT_TRUE(Has(std::string(status.status().message()), "libmissing.so")) << status.status();
  EXPECT_FALSE(testing::FileExists(dir_.File("fg.pid")));
}

}  // namespace
}  // namespace appkit
