// examples/systemd/appkit-demo.service is what SPEC §10 says a Type=notify
// unit of appkit is, and works: systemd-analyze verify accepts it (where
// systemd is installed), and its ExecStart, run as systemd would run it
// (NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID; the paths moved to a temp
// dir), tells a fake systemd READY=1, WATCHDOG=1 and STOPPING=1 from the
// main pid, and exits 0 after the unit's SIGTERM to that pid alone
// (KillMode=mixed).
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/process/notify_socket.h"
#include "gtest/gtest.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::ReadFileOrEmpty;
using ::appkit::testing::RunCommand;
using ::appkit::testing::RunfilePath;
using ::appkit::testing::WaitForExit;

using Unit = std::map<std::string, std::map<std::string, std::string>>;

// [Section] Key=Value lines (comments and blank lines skipped; the last
// value of a key wins, enough for this unit).
Unit ParseUnit(const std::string& text) {
  Unit unit;
  std::string section;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = std::string(line.substr(1, line.size() - 2));
      continue;
    }
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    unit[section][kv.first] = kv.second;
  }
  return unit;
}

class SystemdUnitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unit_text_ = ReadFileOrEmpty(RunfilePath("examples/systemd/appkit-demo.service"));
    ASSERT_FALSE(unit_text_.empty());
    unit_ = ParseUnit(unit_text_);
  }
  std::string unit_text_;
  Unit unit_;
  testing::TempDir dir_;
};

TEST_F(SystemdUnitTest, IsATypeNotifyServiceOfAppkitctlRun) {
  std::map<std::string, std::string>& service = unit_["Service"];
  EXPECT_EQ(service["Type"], "notify");
  // Only the main pid may notify (the default): appkitctl speaks for all.
  EXPECT_TRUE(service.count("NotifyAccess") == 0 || service["NotifyAccess"] == "main");
  EXPECT_NE(service["ExecStart"].find("appkitctl "), std::string::npos);
  EXPECT_NE(service["ExecStart"].find(" run demo"), std::string::npos);
  EXPECT_EQ(service["KillMode"], "mixed");
  EXPECT_EQ(service["ExecReload"], "/bin/kill -HUP $MAINPID");
  EXPECT_FALSE(service["WatchdogSec"].empty());
}

TEST_F(SystemdUnitTest, SystemdAnalyzeVerifiesIt) {
  const char* analyze = "/usr/bin/systemd-analyze";
  if (access(analyze, X_OK) != 0) GTEST_SKIP() << "systemd-analyze is not installed here";
  // verify wants ExecStart's program to exist: the one built here.
  const std::string exec = unit_["Service"]["ExecStart"];
  std::string text = absl::StrReplaceAll(
      unit_text_, {{exec.substr(0, exec.find(' ')), RunfilePath("client/appkitctl")}});
  const std::string path = dir_.File("appkit-demo.service");
  std::ofstream(path) << text;
  testing::CommandResult result = RunCommand({analyze, "verify", path});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_EQ(result.err.find("appkit-demo.service"), std::string::npos) << result.err;
}

TEST_F(SystemdUnitTest, ItsExecStartSpeaksTheNotifyProtocol) {
  auto systemd = NotifySocket::Create();
  ASSERT_TRUE(systemd.ok()) << systemd.status();
  std::map<std::string, std::string>& service = unit_["Service"];
  // The unit's paths, moved here.
  const std::string runtime = "/run/" + service["RuntimeDirectory"];
  const std::string state = dir_.File("run");
  std::filesystem::create_directory(state);
  const std::string config = dir_.File("daemons.yaml");
  std::ofstream(config) << absl::StrReplaceAll(
      ReadFileOrEmpty(RunfilePath("examples/systemd/daemons.yaml")), {{runtime, state}});
  std::vector<std::string> argv = absl::StrSplit(service["ExecStart"], ' ');
  argv[0] = RunfilePath("client/appkitctl");
  for (std::string& arg : argv) {
    if (arg == "/etc/appkit/daemons.yaml") arg = config;
    if (arg == runtime) arg = state;
  }
  int watchdog_sec = 0;
  ASSERT_TRUE(absl::SimpleAtoi(service["WatchdogSec"], &watchdog_sec));
  const std::string module_dir =
      std::filesystem::path(RunfilePath("examples/quickstart/libdemo.so")).parent_path();

  pid_t main_pid = fork();
  if (main_pid == 0) {
    std::vector<char*> args;
    for (std::string& arg : argv) args.push_back(arg.data());
    args.push_back(nullptr);
    setenv("NOTIFY_SOCKET", (*systemd)->address().c_str(), 1);
    setenv("WATCHDOG_USEC", std::to_string(watchdog_sec * 1000000LL).c_str(), 1);
    setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
    setenv("APPKIT_MODULE_PATH", module_dir.c_str(), 1);
    execv(args[0], args.data());
    _exit(127);
  }
  testing::ProcessReaper reaper;
  reaper.Track(main_pid);
  std::vector<std::string> got;
  auto receive_until = [&](const std::string& want) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (absl::Now() < deadline) {
      for (const NotifySocket::Message& message : (*systemd)->ReadPending()) {
        EXPECT_EQ(message.sender, main_pid) << "only the main pid speaks";
        for (const auto& [key, value] : message.fields) got.push_back(key + "=" + value);
      }
      for (const std::string& state : got) {
        if (state == want) return true;
      }
      pollfd pfd = {(*systemd)->fd(), POLLIN, 0};
      poll(&pfd, 1, 100);
    }
    return false;
  };
  EXPECT_TRUE(receive_until("READY=1")) << ReadFileOrEmpty(state + "/demo/demo-err.txt");
  EXPECT_TRUE(receive_until("WATCHDOG=1"));
  EXPECT_TRUE(std::filesystem::exists(state + "/greeter-1.pid") ||
              testing::WaitFor([&] { return std::filesystem::exists(state + "/greeter-1.pid"); }))
      << "the demo's workers run";
  ASSERT_EQ(kill(main_pid, SIGTERM), 0);  // KillMode=mixed: the main pid alone
  EXPECT_TRUE(receive_until("STOPPING=1"));
  ASSERT_TRUE(WaitForExit(main_pid, absl::Seconds(30)));
  int status = 0;
  ASSERT_EQ(waitpid(main_pid, &status, 0), main_pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_FALSE(std::filesystem::exists(state + "/demo/demo.pid"));
}

}  // namespace
}  // namespace appkit
