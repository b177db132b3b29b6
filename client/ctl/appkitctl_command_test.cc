// appkitctl --config with command daemons (SPEC §10): a daemons.yaml
// `command` string, `env_file`, `environment` and `working_directory`
// reach the real program; a missing program is an error naming it before
// anything starts; env_file errors name file:line.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::CommandResult;
using ::appkit::testing::FileExists;
using ::appkit::testing::LinesWithPrefix;
using ::appkit::testing::ReadFileOrEmpty;
using ::appkit::testing::WaitFor;

class AppkitctlCommandTest : public ::testing::Test {
 protected:
  void TearDown() override { Ctl({"stop", "--all"}); }

  CommandResult Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {testing::RunfilePath("client/appkitctl"), "--config", config()});
    return testing::RunCommand(args);
  }
  std::string config() const { return dir_.File("daemons.yaml"); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_.File(name), std::ios::trunc) << text;
  }

  testing::TempDir dir_;
};

TEST_F(AppkitctlCommandTest, StartsAProgramWithItsEnvironmentAndDirectoryAndStopsIt) {
  ASSERT_EQ(mkdir(dir_.File("work").c_str(), 0700), 0);
  Write("app.env", "# the app's\nAPPKIT_TEST_VAR=from file\n");
  Write("daemons.yaml", absl::StrCat("web:\n"
                                     "  command: '",
                                     testing::RunfilePath("testing/notify_program"), " --record ",
                                     dir_.File("record.txt"),
                                     " --status \"up and running\"'\n"
                                     "  env_file: app.env\n"
                                     "  environment: {OTHER: x}\n"
                                     "  working_directory: work\n"));
  CommandResult start = Ctl({"start", "web"});
  ASSERT_EQ(start.exit_code, 0) << start.out << start.err;
  ASSERT_TRUE(
      WaitFor([&] { return !LinesWithPrefix(dir_.File("record.txt"), "started").empty(); }));
  const std::string line = LinesWithPrefix(dir_.File("record.txt"), "started")[0];
  EXPECT_NE(line.find(absl::StrCat(" cwd=", dir_.File("work"), " var=from file notify=yes")),
            std::string::npos)
      << line;
  CommandResult status = Ctl({"status", "web", "--json"});
  EXPECT_NE(status.out.find("notify_program --record"), std::string::npos) << status.out;
  CommandResult stop = Ctl({"stop", "web"});
  ASSERT_EQ(stop.exit_code, 0) << stop.out << stop.err;
  EXPECT_EQ(LinesWithPrefix(dir_.File("record.txt"), "sigterm").size(), 1u)
      << ReadFileOrEmpty(dir_.File("record.txt"));
}

TEST_F(AppkitctlCommandTest, AMissingProgramIsNamedAndNothingStarts) {
  Write("daemons.yaml", "web:\n  command: no-such-program-xyz --flag\n");
  CommandResult start = Ctl({"start", "web"});
  EXPECT_NE(start.exit_code, 0);
  EXPECT_NE((start.out + start.err).find("no-such-program-xyz"), std::string::npos)
      << start.out << start.err;
  EXPECT_FALSE(FileExists(dir_.File("appkit-state/web/web.pid")));
}

TEST_F(AppkitctlCommandTest, AnEnvFileErrorNamesFileAndLine) {
  Write("app.env", "A=1\nB='open\n");
  Write("daemons.yaml", "web:\n  command: /bin/true\n  env_file: app.env\n");
  CommandResult list = Ctl({"list"});
  EXPECT_NE(list.exit_code, 0);
  EXPECT_NE(list.err.find(dir_.File("app.env") + ":2: unterminated '"), std::string::npos)
      << list.out << list.err;
}

}  // namespace
}  // namespace appkit
