// daemons.yaml parsing (client/ctl/daemons_config.h) against hostile and
// odd files: alias bombs, huge documents, absurd numbers, deep nesting and
// names that cannot name a directory. Each is an error naming the file
// (and the line and key where there is one), in bounded time and memory.
#include "client/ctl/daemons_config.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/temp_dir.h"

namespace appkit::ctl {
namespace {

class DaemonsConfigTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text, const std::string& name = "daemons.yaml") {
    const std::string path = dir_.File(name);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    return path;
  }

  absl::StatusOr<DaemonsConfig> Load(const std::string& text) {
    return LoadDaemonsConfig(Write(text), dir_.File("state"));
  }

  // The error of loading `text`; fails the test when it loads.
  std::string ErrorOf(const std::string& text) {
    auto config = Load(text);
    EXPECT_FALSE(config.ok()) << text.substr(0, 200);
    if (config.ok()) return "";
    EXPECT_TRUE(absl::IsInvalidArgument(config.status())) << config.status();
    return std::string(config.status().message());
  }

  std::string path() const { return dir_.File("daemons.yaml"); }

  testing::TempDir dir_;
};

// Runs `load` in a child process limited to `memory` of address space and
// `seconds` of CPU: a crash, bad_alloc or a hang there fails the test
// instead of taking the machine down. Returns what the child reported.
std::string RunBounded(const std::function<std::string()>& load, rlim_t memory, int seconds,
                       int* status_out) {
  int out[2];
  if (pipe(out) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    close(out[0]);
    rlimit as = {memory, memory};
    setrlimit(RLIMIT_AS, &as);
    rlimit cpu = {static_cast<rlim_t>(seconds), static_cast<rlim_t>(seconds)};
    setrlimit(RLIMIT_CPU, &cpu);
    std::string report = load();
    (void)!write(out[1], report.data(), report.size());
    _exit(0);
  }
  close(out[1]);
  std::string report;
  char buf[4096];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof(buf))) > 0) report.append(buf, n);
  close(out[0]);
  waitpid(pid, status_out, 0);
  return report;
}

// "billion laughs": nine lists of nine aliases of the previous list, nine
// levels deep: 9^9 strings once expanded, in a 1 KB file.
std::string AliasBomb() {
  std::string text =
      "bomb:\n  args:\n    a0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", "
      "\"lol\", \"lol\", \"lol\", \"lol\"]\n";
  for (int i = 1; i < 10; ++i) {
    std::string alias = absl::StrCat("*a", i - 1);
    text += absl::StrCat("    a", i, ": &a", i, " [", alias);
    for (int j = 1; j < 9; ++j) text += ", " + alias;
    text += "]\n";
  }
  return text;
}

TEST_F(DaemonsConfigTest, AnAliasBombIsRefusedInBoundedTimeAndMemory) {
  const std::string file = Write(AliasBomb());
  const std::string state = dir_.File("state");
  int status = 0;
  absl::Time start = absl::Now();
  std::string error = RunBounded(
      [&] {
        auto config = LoadDaemonsConfig(file, state);
        return config.ok() ? std::string("loaded") : std::string(config.status().message());
      },
      /*memory=*/1ull << 30, /*seconds=*/20, &status);
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the loader died (status " << status << ")";
  EXPECT_TRUE(absl::StartsWith(error, path() + ":")) << error;
  EXPECT_TRUE(absl::StrContains(error, "alias bomb")) << error;
  EXPECT_TRUE(absl::StrContains(error, "'bomb'")) << error;
  EXPECT_LT(took, absl::Seconds(2));
  printf("alias bomb refused in %s: %s\n", absl::FormatDuration(took).c_str(), error.c_str());
}

TEST_F(DaemonsConfigTest, AliasesOfLongTextAreBoundedToo) {
  // 1 MiB of text, aliased 20 times: 20 MiB once expanded.
  std::string text = "big:\n  args:\n    blob: &b \"" + std::string(1 << 20, 'x') + "\"\n";
  text += "    copies: [*b";
  for (int i = 1; i < 20; ++i) text += ", *b";
  text += "]\n";
  std::string error = ErrorOf(text);
  EXPECT_TRUE(absl::StrContains(error, "MiB of text")) << error;
}

TEST_F(DaemonsConfigTest, SmallAliasesStillWork) {
  auto config = Load(R"(
base: &base
  restart_interval_seconds: 5
  args: &args {x: 1, list: &list [1, 2, 3]}
copy: *base
other:
  args: {a: *args, b: *list, c: *list}
)");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->daemons.size(), 3u);
  EXPECT_EQ(config->Find("copy")->options.restart_interval, absl::Seconds(5));
  EXPECT_EQ(*config->Find("copy")->options.daemon_args.GetInt("x"), 1);
  nlohmann::json args = nlohmann::json::parse(config->Find("other")->options.daemon_args.ToJson());
  args.erase("app_name");  // as mordor does, every entry gets these two
  args.erase("daemon_name");
  EXPECT_EQ(args, nlohmann::json::parse(R"({"a":{"x":1,"list":[1,2,3]},"b":[1,2,3],"c":[1,2,3]})"));
}

TEST_F(DaemonsConfigTest, TooManyValuesAreRefusedBeforeTheTreeIsBuilt) {
  std::string list = "[1";
  for (int i = 0; i < 150000; ++i) list += ",1";
  list += "]";
  absl::Time start = absl::Now();
  std::string error = ErrorOf("many:\n  args:\n    x: " + list + "\n");
  EXPECT_TRUE(absl::StrContains(error, path() + ":3: more than 100000 values")) << error;
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST_F(DaemonsConfigTest, AFileOver16MiBIsRefused) {
  std::string error = ErrorOf("big:\n  args:\n    x: \"" + std::string(17 << 20, 'x') + "\"\n");
  EXPECT_TRUE(absl::StrContains(error, "config file " + path() + " is larger than 16 MiB"))
      << error;
}

TEST_F(DaemonsConfigTest, AbsurdDurationsAreRefusedNamingKeyLineAndValue) {
  for (const std::string key : {"restart_interval_seconds", "stop_timeout_seconds"}) {
    for (const std::string value :
         {"9223372036854775808", "1e300", "1e400", "-0", "-1", "-0.5", ".nan", ".inf", "-.inf",
          "nan", "inf", "31536001", "\"5\"", "[5]", "{a: 5}", "five"}) {
      std::string error = ErrorOf("demo:\n  entry: demo:main\n  " + key + ": " + value + "\n");
      EXPECT_TRUE(absl::StartsWith(error, path() + ":3: daemon 'demo': " + key))
          << value << ": " << error;
      EXPECT_TRUE(absl::StrContains(error, "from 0 to 31536000")) << value << ": " << error;
    }
  }
}

TEST_F(DaemonsConfigTest, SaneDurationsAreRead) {
  auto config = Load(R"(
a: {restart_interval_seconds: 0, stop_timeout_seconds: 31536000}
b: {restart_interval_seconds: 0.25, stop_timeout_seconds: null}
c: {restart_interval_seconds: ~, stop_timeout_seconds: 1e3}
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->Find("a")->options.restart_interval, absl::ZeroDuration());
  EXPECT_EQ(config->Find("a")->options.stop_timeout, absl::Hours(24 * 365));
  EXPECT_EQ(config->Find("b")->options.restart_interval, absl::Milliseconds(250));
  EXPECT_EQ(config->Find("b")->options.stop_timeout, std::nullopt);
  EXPECT_EQ(config->Find("c")->options.restart_interval, std::nullopt);
  EXPECT_EQ(config->Find("c")->options.stop_timeout, absl::Seconds(1000));
}

TEST_F(DaemonsConfigTest, ArgsNestedTooDeepAreOneClearError) {
  // Just past appkit's bound (32 levels, the args mapping counting as 1).
  std::string error =
      ErrorOf("deep:\n  args:\n    x: " + std::string(32, '[') + std::string(32, ']') + "\n");
  EXPECT_TRUE(absl::StartsWith(error, path() + ":3: args nest deeper than 32")) << error;
  EXPECT_TRUE(absl::StrContains(error, "daemon 'deep'")) << error;
  auto at_bound =
      Load("deep:\n  args:\n    x: " + std::string(31, '[') + std::string(31, ']') + "\n");
  EXPECT_TRUE(at_bound.ok()) << at_bound.status();

  // Far past it: yaml-cpp's own depth guard, flow and block style alike.
  std::string block = "deep:\n  args:\n";
  std::string indent = "    ";
  for (int i = 0; i < 5000; ++i) {
    block += indent + "a:\n";
    indent += " ";
  }
  for (const std::string& text :
       {"deep:\n  args:\n    x: " + std::string(100000, '[') + std::string(100000, ']') + "\n",
        "deep:\n  args:\n    x: " + std::string(100000, '{'), block}) {
    absl::Time start = absl::Now();
    error = ErrorOf(text);
    EXPECT_TRUE(absl::StartsWith(error, path() + ":")) << error;
    EXPECT_TRUE(absl::StrContains(error, "nested too deep for the YAML parser")) << error;
    EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  }
}

TEST_F(DaemonsConfigTest, NamesThatCannotNameADirectoryAreRefusedShownEscaped) {
  struct Case {
    std::string key;    // as written in the file
    std::string shown;  // as the error must show it
    std::string problem;
  };
  const std::vector<Case> cases = {
      {"\"a\\nb\"", "a\\nb", "contains a control character"},
      {"\"a\\0b\"", "a\\x00b", "contains a control character"},
      {"\"a\\eb\"", "a\\x1bb", "contains a control character"},
      {"\"a\\x7fb\"", "a\\x7fb", "contains a control character"},
      {"\"a\\u0085b\"", "a\\xc2\\x85b", "contains a control character"},
      {"a\xff"
       "b",
       "a\\xffb", "is not valid UTF-8"},
      {"a/b", "a/b", "cannot contain '/'"},
      {"../x", "../x", "cannot contain '/'"},
      {"\".\"", ".", "cannot be a directory name"},
      {"\"..\"", "..", "cannot be a directory name"},
      {"\"\"", "", "is empty"},
      {std::string(65, 'n'), std::string(65, 'n'), "is 65 bytes long (at most 64)"},
      {std::string(200, 'n'), std::string(100, 'n') + "... (200 bytes)",
       "is 200 bytes long (at most 64)"},
  };
  for (const Case& c : cases) {
    std::string error = ErrorOf("ok: {}\n" + c.key + ":\n  entry: m:f\n");
    EXPECT_EQ(error, path() + ":2: daemon name \"" + c.shown + "\" " + c.problem) << c.key;
  }
  auto fine = Load(std::string(64, 'n') + ": {}\nd\xc3\xa9mon-1.x: {}\n\"with space\": {}\n");
  ASSERT_TRUE(fine.ok()) << fine.status();
  EXPECT_EQ(fine->daemons.size(), 3u);
}

TEST_F(DaemonsConfigTest, TextThatIsNotUtf8InEntryIsRefused) {
  std::string error = ErrorOf("d:\n  entry: \"m\xff:f\"\n");
  EXPECT_EQ(error, path() + ":2: daemon 'd': entry \"m\\xff:f\" is not valid UTF-8");
}

// --- mordor files unchanged --------------------------------------------

class MordorConfigTest : public DaemonsConfigTest {
 protected:
  // $ENV_HOME/apps/shop/current/daemons.yaml, as mordor deploys it.
  std::string WriteApp(const std::string& text) {
    for (const char* dir : {"env", "env/apps", "env/apps/shop", "env/apps/shop/current",
                            "env/configs", "env/configs/shop"}) {
      mkdir(dir_.File(dir).c_str(), 0755);
    }
    std::ofstream(dir_.File("env/configs/shop/deployment.json")) << R"({"stage": "beta"})";
    return Write(text, "env/apps/shop/current/daemons.yaml");
  }
  std::string env_home() const { return dir_.File("env"); }

  absl::StatusOr<DaemonsConfig> LoadApp(const std::string& text, const std::string& layout,
                                        bool with_env_home = true) {
    LayoutOptions options;
    options.layout = layout;
    if (with_env_home) options.env_home = env_home();
    return LoadDaemonsConfig(WriteApp(text), options);
  }
};

TEST_F(MordorConfigTest, DescriptionAndTheNamesMordorAddsToArgs) {
  auto config = LoadApp(
      "demo1:\n  description: the first demo\n  args:\n    x: 1\n"
      "    app_name: mine\ndemo2:\n",
      "state");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->layout.app_name(), "shop");  // the parent of current/
  const NamedDaemon* demo1 = config->Find("demo1");
  EXPECT_EQ(demo1->description, "the first demo");
  EXPECT_EQ(nlohmann::json::parse(demo1->options.daemon_args.ToJson()),
            nlohmann::json::parse(R"({"x": 1, "app_name": "shop", "daemon_name": "demo1"})"));
  EXPECT_EQ(nlohmann::json::parse(config->Find("demo2")->options.daemon_args.ToJson()),
            nlohmann::json::parse(R"({"app_name": "shop", "daemon_name": "demo2"})"));

  // Elsewhere the application is the config's directory; --app overrides.
  auto plain = Load("d: {}\n");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->layout.app_name(), dir_.path().substr(dir_.path().rfind('/') + 1));
  LayoutOptions named;
  named.app = "other";
  EXPECT_EQ(LoadDaemonsConfig(path(), named)->layout.app_name(), "other");
  named.app = "a/b";
  auto bad = LoadDaemonsConfig(path(), named);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "application name \"a/b\""));
}

TEST_F(MordorConfigTest, TheMordorLayoutPutsFilesWhereMordorDoes) {
  auto config = LoadApp("demo1: {}\n", "mordor");
  ASSERT_TRUE(config.ok()) << config.status();
  const NamedDaemon* demo1 = config->Find("demo1");
  const std::string env = env_home();
  EXPECT_EQ(demo1->options.pid_filename, env + "/pids/shop/demo1.pid");
  EXPECT_EQ(demo1->options.stdout_filename, env + "/logs/shop/demo1-out.txt");
  EXPECT_EQ(demo1->options.stderr_filename, env + "/logs/shop/demo1-err.txt");
  EXPECT_EQ(demo1->files.log, env + "/logs/shop/demo1.log");
  EXPECT_EQ(demo1->debug_filename, env + "/daemon_status/shop/demo1.json");
  EXPECT_EQ(demo1->options.logging_config->handlers(0).file().filename(), demo1->files.log);

  auto no_env = LoadApp("demo1: {}\n", "mordor", /*with_env_home=*/false);
  ASSERT_FALSE(no_env.ok());
  EXPECT_TRUE(absl::StrContains(no_env.status().message(), "needs $ENV_HOME")) << no_env.status();
  LayoutOptions both;
  both.layout = "mordor";
  both.env_home = env_home();
  both.state_dir = dir_.File("state");
  EXPECT_FALSE(LoadDaemonsConfig(path(), both).ok());
}

TEST_F(MordorConfigTest, TemplateValuesFollowTheLayout) {
  const std::string text =
      "d:\n  args:\n    app: '{{ app_name }}'\n    app_dir: '{{app_dir}}'\n"
      "    cfg: '{{ cfg_dir }}'\n    data: '{{ data_dir }}'\n    log: '{{ log_dir }}'\n"
      "    pid: '{{ pid_dir }}'\n    status: '{{ daemon_status_dir }}'\n"
      "    stage: '{{ stage }}'\n";
  const std::string env = env_home();
  auto mordor = LoadApp(text, "mordor");
  ASSERT_TRUE(mordor.ok()) << mordor.status();
  nlohmann::json args = nlohmann::json::parse(mordor->Find("d")->options.daemon_args.ToJson());
  EXPECT_EQ(args["app"], "shop");
  EXPECT_EQ(args["app_dir"], env + "/apps/shop/current");
  EXPECT_EQ(args["cfg"], env + "/configs/shop");
  EXPECT_EQ(args["data"], env + "/data/shop");
  EXPECT_EQ(args["log"], env + "/logs/shop");
  EXPECT_EQ(args["pid"], env + "/pids/shop");
  EXPECT_EQ(args["status"], env + "/daemon_status/shop");
  EXPECT_EQ(args["stage"], "beta");

  auto state = LoadApp(text, "state");
  ASSERT_TRUE(state.ok()) << state.status();
  args = nlohmann::json::parse(state->Find("d")->options.daemon_args.ToJson());
  const std::string state_dir = env + "/apps/shop/current/appkit-state";
  EXPECT_EQ(args["log"], state_dir);
  EXPECT_EQ(args["pid"], state_dir);
  EXPECT_EQ(args["status"], state_dir);
  EXPECT_EQ(args["cfg"], env + "/configs/shop");

  // Without $ENV_HOME a value that needs it is an error where it is used.
  auto no_env = LoadApp("d:\n  args:\n    a: '{{ app_name }}'\n    c: '{{ cfg_dir }}'\n", "state",
                        /*with_env_home=*/false);
  ASSERT_FALSE(no_env.ok());
  EXPECT_TRUE(absl::StrContains(no_env.status().message(),
                                "daemons.yaml:4: '{{ cfg_dir }}': needs $ENV_HOME"))
      << no_env.status();
  EXPECT_TRUE(LoadApp("d:\n  args:\n    a: '{{ app_name }}'\n", "state", false).ok());
}

TEST_F(MordorConfigTest, OtherTemplateConstructsAreErrorsNamingFileAndLine) {
  auto config = LoadApp("d:\n  args:\n    a: \"{{ app_name | upper }}\"\n", "state");
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(absl::StrContains(config.status().message(),
                                "env/apps/shop/current/daemons.yaml:3: the filter in"))
      << config.status();
  config = LoadApp("{% for d in x %}\nd: {}\n{% endfor %}\n", "state");
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(absl::StrContains(config.status().message(),
                                "daemons.yaml:1: the template "
                                "statement"))
      << config.status();
}

TEST_F(MordorConfigTest, ScalarsAndMergeKeysReadAsPyYamlReadsThem) {
  auto config = LoadApp(R"(
defaults: &defaults
  restart_interval_seconds: 1:30
  args: {verbose: on}
d:
  <<: *defaults
  args: {verbose: yes, quiet: off, count: 0x10, ratio: 1.0e+1, big: 1e3, day: 2024-01-31,
         none: ~, y: y}
)",
                        "state");
  ASSERT_TRUE(config.ok()) << config.status();
  const NamedDaemon* d = config->Find("d");
  EXPECT_EQ(d->options.restart_interval, absl::Seconds(90));
  nlohmann::json args = nlohmann::json::parse(d->options.daemon_args.ToJson());
  EXPECT_EQ(args["verbose"], true);
  EXPECT_EQ(args["quiet"], false);
  EXPECT_EQ(args["count"], 16);
  EXPECT_EQ(args["ratio"], 10.0);
  EXPECT_EQ(args["big"], "1e3");
  EXPECT_EQ(args["day"], "2024-01-31");
  EXPECT_TRUE(args["none"].is_null());
  EXPECT_EQ(args["y"], "y");
}

}  // namespace
}  // namespace appkit::ctl

namespace appkit::ctl {
namespace {

TEST_F(DaemonsConfigTest, HealthListenReachesTheOptions) {
  auto config = Load("demo:\n  health_listen: 0.0.0.0:8081\nother: {}\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->Find("demo")->options.health_listen, "0.0.0.0:8081");
  EXPECT_EQ(config->Find("demo")->settings["health_listen"], "0.0.0.0:8081");
  EXPECT_EQ(config->Find("other")->options.health_listen, "");
  EXPECT_FALSE(config->Find("other")->settings.contains("health_listen"));
  std::string error = ErrorOf("demo:\n  health_listen: [1, 2]\n");
  EXPECT_TRUE(absl::StrContains(error, "health_listen")) << error;
  EXPECT_TRUE(absl::StrContains(error, ":2")) << error;
}

}  // namespace
}  // namespace appkit::ctl
