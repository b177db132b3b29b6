// appkitctl's argument parser: options anywhere, both spellings, short
// options and clusters, values, and usage errors that name the option.
#include "client/ctl/ctl_args.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace appkit::ctl {
namespace {

CtlArgs Parse(const std::vector<std::string>& args) {
  auto parsed = ParseCtlArgs(args);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *parsed : CtlArgs();
}

std::string ErrorOf(const std::vector<std::string>& args) {
  auto parsed = ParseCtlArgs(args);
  EXPECT_FALSE(parsed.ok());
  return parsed.ok() ? "" : std::string(parsed.status().message());
}

TEST(CtlArgsTest, OptionsGoAnywhereAndTakeBothSpellings) {
  CtlArgs args = Parse({"--config", "d.yaml", "status", "a", "--json", "b", "--state_dir=/s"});
  EXPECT_EQ(args.command, "status");
  EXPECT_EQ(args.operands, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(args.config, "d.yaml");
  EXPECT_EQ(args.state_dir, "/s");
  EXPECT_TRUE(args.json);
  EXPECT_EQ(args.given, (std::set<std::string>{"config", "json", "state-dir"}));

  args = Parse({"stop", "--pid-file=/p", "--timeout", "2.5"});
  EXPECT_EQ(args.pid_file, "/p");
  EXPECT_EQ(args.timeout, absl::Milliseconds(2500));
  EXPECT_EQ(Parse({"stop", "--timeout=500ms"}).timeout, absl::Milliseconds(500));
}

TEST(CtlArgsTest, ShortOptionsAndClusters) {
  CtlArgs args = Parse({"logs", "demo", "-n", "5", "-f"});
  EXPECT_EQ(args.lines, 5);
  EXPECT_TRUE(args.follow);
  args = Parse({"logs", "-fn20", "demo"});
  EXPECT_EQ(args.lines, 20);
  EXPECT_TRUE(args.follow);
  EXPECT_EQ(args.operands, std::vector<std::string>{"demo"});
  EXPECT_EQ(Parse({"logs", "-n0"}).lines, 0);
  EXPECT_TRUE(Parse({"-h"}).help);
  EXPECT_TRUE(Parse({"--help"}).help);
  EXPECT_EQ(Parse({"logs"}).lines, 10);  // the default
}

TEST(CtlArgsTest, DoubleDashEndsOptions) {
  CtlArgs args = Parse({"start", "--", "--all", "-n"});
  EXPECT_FALSE(args.all);
  EXPECT_EQ(args.operands, (std::vector<std::string>{"--all", "-n"}));
}

TEST(CtlArgsTest, BadOptionsAreUsageErrorsNamingThem) {
  EXPECT_TRUE(absl::StrContains(ErrorOf({"status", "--frob"}), "unknown option '--frob'"));
  EXPECT_TRUE(absl::StrContains(ErrorOf({"logs", "-x"}), "unknown option '-x'"));
  EXPECT_TRUE(absl::StrContains(ErrorOf({"status", "--pid-file"}), "--pid-file needs a value"));
  EXPECT_TRUE(absl::StrContains(ErrorOf({"logs", "-n", "many"}), "-n takes a number"));
  EXPECT_TRUE(absl::StrContains(ErrorOf({"logs", "-n", "-1"}), "-n takes a number"));
  EXPECT_TRUE(absl::StrContains(ErrorOf({"stop", "--timeout", "soon"}), "--timeout takes"));
  EXPECT_TRUE(absl::StrContains(ErrorOf({"stop", "--timeout=-1s"}), "--timeout takes"));
  EXPECT_TRUE(absl::StrContains(ErrorOf({"status", "--json=maybe"}), "--json takes no value"));
  EXPECT_TRUE(absl::StrContains(ErrorOf({"status", "--fr\x1b"}), "'--fr\\x1b'"));
}

TEST(CtlArgsTest, HelpListsEveryOption) {
  const std::string help = OptionsHelp();
  for (const char* option :
       {"--pid-file F", "--socket S", "--config F", "--state-dir DIR", "--layout L", "--app NAME",
        "--all", "--json", "--timeout D", "--worker W", "--stdout", "--stderr", "-n, --lines N",
        "-f, --follow", "-h, --help"}) {
    EXPECT_TRUE(absl::StrContains(help, option)) << option << "\n" << help;
  }
}

}  // namespace
}  // namespace appkit::ctl
