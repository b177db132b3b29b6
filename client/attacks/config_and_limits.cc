// The attack suite (issue 11): each test is one attack on appkit, named as
// a sentence saying what must hold, with a one-line comment saying the
// attack. Real binaries, real processes; an attacker acts as the user
// nobody where one is involved (tests that need root skip without it).
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/appkit.h"
#include "gtest/gtest.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::CommandResult;
using ::appkit::testing::FileExists;

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

class ConfigAttackTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
};

// ---------------------------------------------------------------------------
// Items 11 and 12: hostile config and odd values; low limits.

// Runs appkitctl with its address space limited to 1 GiB and 20 s of CPU:
// a config that makes it allocate without bound crashes it instead of the
// machine.
CommandResult BoundedCtl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/prlimit", "--as=1073741824", "--cpu=20",
                                   testing::RunfilePath("client/appkitctl")};
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::RunCommand(argv);
}

// Writes `text` to `path` as the user nobody (the directory must let it).
bool WriteAsNobody(const std::string& path, const std::string& text) {
  pid_t child = fork();
  if (child == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(kNogroup, kNogroup, kNogroup) != 0 ||
        setresuid(kNobody, kNobody, kNobody) != 0) {
      _exit(2);
    }
    std::ofstream(path, std::ios::trunc) << text;
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// A directory nobody owns, inside the test's directory, for planted files.
std::string NobodysDirectory(const testing::TempDir& dir) {
  chmod(dir.path().c_str(), 0711);
  const std::string planted = dir.File("planted");
  mkdir(planted.c_str(), 0755);
  (void)!chown(planted.c_str(), kNobody, kNogroup);
  return planted;
}

// "billion laughs": nine lists of nine aliases of the previous list, nine
// levels deep: 9^9 strings once expanded, from a 1 KB file.
std::string AliasBomb() {
  std::string text =
      "ok: {}\nbomb:\n  args:\n    a0: &a0 [lol, lol, lol, lol, lol, lol, lol, "
      "lol, lol]\n";
  for (int i = 1; i < 10; ++i) {
    const std::string alias = absl::StrCat("*a", i - 1);
    text += absl::StrCat("    a", i, ": &a", i, " [", alias);
    for (int j = 1; j < 9; ++j) text += ", " + alias;
    text += "]\n";
  }
  return text;
}

// Attack: another user plants a YAML alias bomb as daemons.yaml; root runs
// `appkitctl --config` on it.
TEST_F(ConfigAttackTest, AnAliasBombInDaemonsYamlIsRefusedInBoundedTimeAndMemory) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (to plant the file as nobody)";
  const std::string config = NobodysDirectory(dir_) + "/daemons.yaml";
  ASSERT_TRUE(WriteAsNobody(config, AliasBomb()));
  for (const std::string command : {"list", "start"}) {
    std::vector<std::string> args = {"--config", config, command};
    if (command == "start") args.push_back("ok");
    const absl::Time start = absl::Now();
    CommandResult result = BoundedCtl(args);
    const absl::Duration took = absl::Now() - start;
    EXPECT_EQ(result.exit_code, 1) << command << ": died? " << result.err;
    EXPECT_TRUE(absl::StartsWith(result.err, config + ":")) << result.err;
    EXPECT_TRUE(absl::StrContains(result.err, "alias bomb")) << result.err;
    EXPECT_LT(took, absl::Seconds(5)) << command;
    printf("%s: refused in %s\n", command.c_str(), absl::FormatDuration(took).c_str());
  }
  EXPECT_FALSE(FileExists(dir_.File("planted/appkit-state")));
}

// Attack: daemons.yaml nests args 100,000 levels deep (flow style), 3,000
// (block style) or 40, to overflow a recursive parser's stack or
// protobuf's limits.
TEST_F(ConfigAttackTest, DeepNestingInDaemonsYamlIsOneClearError) {
  const std::string config = dir_.File("daemons.yaml");
  std::string block = "deep:\n  args:\n";
  std::string indent = "    ";
  for (int i = 0; i < 3000; ++i) {  // 4.5 MB: yaml-cpp's guard stops at about 500
    block += indent + "- \n";
    indent += " ";
  }
  for (const std::string& text :
       {"deep:\n  args:\n    x: " + std::string(100000, '[') + std::string(100000, ']') + "\n",
        "deep:\n  args:\n    x: " + std::string(100000, '{') + "\n", block,
        "deep:\n  args:\n    x: " + std::string(40, '[') + std::string(40, ']') + "\n"}) {
    std::ofstream(config, std::ios::trunc) << text;
    CommandResult result = BoundedCtl({"--config", config, "start", "deep"});
    EXPECT_EQ(result.exit_code, 1) << result.err;
    EXPECT_TRUE(absl::StartsWith(result.err, config + ":")) << result.err;
    EXPECT_TRUE(absl::StrContains(result.err, "nest")) << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  }
  EXPECT_FALSE(FileExists(dir_.File("appkit-state")));
}

// Attack: daemon names that are paths, control sequences, NUL, bytes that
// are not UTF-8 or far too long, to escape the state directory, garble
// the operator's terminal or leave directories behind.
TEST_F(ConfigAttackTest, HostileDaemonNamesAreRefusedBeforeAnythingIsCreated) {
  struct Case {
    std::string key;    // as written in daemons.yaml
    std::string shown;  // as the error shows it
  };
  const std::vector<Case> cases = {
      {"\"evil\\nname\"", "evil\\nname"},
      {"\"a\\0b\"", "a\\x00b"},
      {"\"\\e]2;pwned\\a\\e[2J\"", "\\x1b]2;pwned\\x07\\x1b[2J"},
      {"../../escape", "../../escape"},
      {"/etc/cron.d/x", "/etc/cron.d/x"},
      {"\"..\"", ".."},
      {"\".\"", "."},
      {"caf\xe9", "caf\\xe9"},
      {std::string(200, 'n'), std::string(100, 'n') + "... (200 bytes)"},
  };
  const std::string config = dir_.File("daemons.yaml");
  for (const Case& c : cases) {
    std::ofstream(config, std::ios::trunc) << "ok:\n  entry: test_module:run_until_quit\n"
                                           << c.key << ":\n  entry: m:f\n";
    for (const std::string& name : {std::string("ok"), c.key}) {
      CommandResult result = BoundedCtl({"--config", config, "start", name});
      EXPECT_EQ(result.exit_code, 1) << c.key;
      EXPECT_TRUE(absl::StrContains(result.err, config + ":3: daemon name \"" + c.shown + "\""))
          << result.err;
      EXPECT_EQ(result.err.find('\x1b'), std::string::npos) << "a raw escape reached the terminal";
      EXPECT_FALSE(FileExists(dir_.File("appkit-state"))) << c.key << ": something was created";
    }
  }
}

// Attack: absurd numbers for durations in daemons.yaml (an overflow of
// int64 seconds, 1e300, -0, NaN, infinity), which were accepted and broke
// `status --json`.
TEST_F(ConfigAttackTest, AbsurdDurationsInDaemonsYamlAreRefusedNamingTheKey) {
  const std::string config = dir_.File("daemons.yaml");
  for (const std::string key : {"restart_interval_seconds", "stop_timeout_seconds"}) {
    for (const std::string value :
         {"9223372036854775808", "1e300", "-0", ".nan", ".inf", "99999999999"}) {
      std::ofstream(config, std::ios::trunc) << "test_module:\n  " << key << ": " << value << "\n";
      CommandResult result = BoundedCtl({"--config", config, "start", "test_module"});
      EXPECT_EQ(result.exit_code, 1) << value << ": " << result.out;
      EXPECT_TRUE(absl::StartsWith(result.err, config + ":2: daemon 'test_module': " + key))
          << value << ": " << result.err;
      EXPECT_TRUE(absl::StrContains(result.err, "got '" + value + "'")) << result.err;
      EXPECT_FALSE(FileExists(dir_.File("appkit-state"))) << value;
    }
  }
}

// Attack: absurd durations through the C++ API.
TEST_F(ConfigAttackTest, AbsurdDurationsThroughTheApiAreRefusedNamingTheOption) {
  DaemonOptions options;
  options.pid_filename = dir_.File("d.pid");
  options.daemon_entry = testing::RunfilePath("testing/libtest_module.so") + ":run_until_quit";
  options.restart_interval = absl::Seconds(9223372036854775807.0);
  DaemonStartResult result = StartDaemon(options);
  testing::ProcessReaper reaper;
  if (result.pid) reaper.Track(*result.pid);
  EXPECT_EQ(result.status, DaemonRunStatus::kLaunchFailed);
  EXPECT_TRUE(absl::StartsWith(result.error,
                               "DaemonOptions.restart_interval inf is longer than "
                               "the maximum of 8760h"))
      << result.error;
  WorkersOptions workers;
  workers.stop_timeout = absl::Seconds(1e300);
  WorkerStartInfo unnamed;  // a pool that slips through fails at once
  absl::Status status = StartWorkers({unnamed}, workers);
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_TRUE(absl::StartsWith(status.message(), "WorkersOptions.stop_timeout inf")) << status;
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path()));
}

}  // namespace
}  // namespace appkit
