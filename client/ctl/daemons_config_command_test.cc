// daemons.yaml's command settings (SPEC §10): command as a list or a
// string, environment, env_file (errors naming file:line), and
// working_directory, as LoadDaemonsConfig turns them into DaemonOptions.
#include <fstream>

#include "absl/strings/str_cat.h"
#include "client/ctl/daemons_config.h"
#include "gtest/gtest.h"
#include "testing/temp_dir.h"

namespace appkit::ctl {
namespace {

class CommandConfigTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_.File(name);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    return path;
  }
  absl::StatusOr<DaemonsConfig> Load(const std::string& text) {
    return LoadDaemonsConfig(Write("daemons.yaml", text), dir_.File("state"));
  }
  std::string ErrorOf(const std::string& text) {
    auto config = Load(text);
    EXPECT_FALSE(config.ok()) << text;
    return config.ok() ? "" : std::string(config.status().message());
  }
  testing::TempDir dir_;
};

TEST_F(CommandConfigTest, CommandAsAListOrAStringWithEnvironmentAndDirectory) {
  Write("app.env", "# defaults\nLEVEL=debug\nSHARED=from file\n");
  auto config = Load(
      "web:\n"
      "  command: ['/usr/sbin/server', '--port', '80']\n"
      "  environment: {SHARED: from yaml, N: 8}\n"
      "  env_file: app.env\n"
      "  working_directory: /tmp\n"
      "cron:\n"
      "  command: ./bin/tick --every '5 min'\n");
  ASSERT_TRUE(config.ok()) << config.status();
  const DaemonOptions& web = config->Find("web")->options;
  EXPECT_EQ(web.command, (std::vector<std::string>{"/usr/sbin/server", "--port", "80"}));
  EXPECT_TRUE(web.daemon_entry.empty());
  EXPECT_EQ(web.environment, (std::map<std::string, std::string>{
                                 {"LEVEL", "debug"}, {"N", "8"}, {"SHARED", "from yaml"}}));
  EXPECT_EQ(web.working_directory, "/tmp");
  const DaemonOptions& cron = config->Find("cron")->options;
  // A relative program: from the config file's directory.
  EXPECT_EQ(cron.command,
            (std::vector<std::string>{dir_.path() + "/./bin/tick", "--every", "5 min"}));
  EXPECT_EQ(config->Find("cron")->settings["command"][2], "5 min");
}

TEST_F(CommandConfigTest, EnvFileErrorsNameTheFileAndLine) {
  Write("bad.env", "A=1\n# comment\nNOT A VARIABLE\n");
  const std::string error = ErrorOf(
      "web:\n"
      "  command: /bin/true\n"
      "  env_file: bad.env\n");
  EXPECT_NE(error.find(dir_.File("bad.env") + ":3:"), std::string::npos) << error;
  EXPECT_NE(error.find("daemon 'web'"), std::string::npos) << error;
  EXPECT_NE(error.find("daemons.yaml:3"), std::string::npos) << error;
}

TEST_F(CommandConfigTest, AMissingEnvFileIsNamed) {
  const std::string error = ErrorOf("web:\n  command: /bin/true\n  env_file: [missing.env]\n");
  EXPECT_NE(error.find(dir_.File("missing.env")), std::string::npos) << error;
}

TEST_F(CommandConfigTest, ACommandThatNeedsAShellIsRefused) {
  const std::string error = ErrorOf("web:\n  command: server | tee log\n");
  EXPECT_NE(error.find("daemons.yaml:2"), std::string::npos) << error;
  EXPECT_NE(error.find("'|'"), std::string::npos) << error;
}

TEST_F(CommandConfigTest, EntryAndCommandTogetherAreRefused) {
  const std::string error = ErrorOf("web:\n  entry: web:main\n  command: /bin/true\n");
  EXPECT_NE(error.find("exactly one"), std::string::npos) << error;
}

TEST_F(CommandConfigTest, BadShapesAreNamed) {
  EXPECT_NE(ErrorOf("web:\n  command: []\n").find("empty"), std::string::npos);
  EXPECT_NE(ErrorOf("web:\n  command: /bin/true\n  environment: [A]\n").find("mapping"),
            std::string::npos);
  EXPECT_NE(ErrorOf("web:\n  command: {a: 1}\n").find("command"), std::string::npos);
}

}  // namespace
}  // namespace appkit::ctl
