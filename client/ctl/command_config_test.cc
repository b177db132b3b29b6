#include "client/ctl/command_config.h"

#include "gtest/gtest.h"

namespace appkit::ctl {
namespace {

using Argv = std::vector<std::string>;
using Env = std::map<std::string, std::string>;

TEST(SplitCommandLineTest, SplitsAsAShellWould) {
  EXPECT_EQ(*SplitCommandLine("/bin/server --port 80"), (Argv{"/bin/server", "--port", "80"}));
  EXPECT_EQ(*SplitCommandLine("  a\t b  "), (Argv{"a", "b"}));
  EXPECT_EQ(*SplitCommandLine("echo 'two words' \"x \\$ \\\"q\\\" \\\\\""),
            (Argv{"echo", "two words", "x $ \"q\" \\"}));
  EXPECT_EQ(*SplitCommandLine("a\\ b 'it'\"s\" ''"), (Argv{"a b", "its", ""}));
  EXPECT_EQ(*SplitCommandLine("x a#b"), (Argv{"x", "a#b"}));
  EXPECT_EQ(*SplitCommandLine("x '$HOME|;'"), (Argv{"x", "$HOME|;"}));
}

TEST(SplitCommandLineTest, WhatNeedsAShellIsAnErrorNamingIt) {
  for (const char* bad : {"a | b", "a; b", "a && b", "a > f", "echo $HOME", "echo `id`",
                          "a # comment", "(a)", "echo \"$HOME\""}) {
    auto split = SplitCommandLine(bad);
    ASSERT_FALSE(split.ok()) << bad;
    EXPECT_NE(split.status().message().find("shell"), std::string::npos) << split.status();
  }
  EXPECT_NE(SplitCommandLine("a 'b").status().message().find("unterminated '"), std::string::npos);
  EXPECT_NE(SplitCommandLine("a \"b").status().message().find("unterminated \""),
            std::string::npos);
  EXPECT_FALSE(SplitCommandLine("   ").ok());
  EXPECT_FALSE(SplitCommandLine("a \\").ok());
}

TEST(ParseEnvTextTest, SystemdEnvironmentFileSyntax) {
  auto env = ParseEnvText("env.conf",
                          "# a comment\n"
                          "; another\n"
                          "\n"
                          "A=1\n"
                          "  B = two words  \n"
                          "C='single $X \\n'\n"
                          "D=\"double \\\"q\\\" \\\\ end\"\n"
                          "E=continued \\\n"
                          "line\n"
                          "F=\"multi\n"
                          "line\"\n"
                          "G=\n"
                          "A=last wins\n");
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(*env, (Env{{"A", "last wins"},
                       {"B", "two words"},
                       {"C", "single $X \\n"},
                       {"D", "double \"q\" \\ end"},
                       {"E", "continued line"},
                       {"F", "multi\nline"},
                       {"G", ""}}));
}

TEST(ParseEnvTextTest, ErrorsNameTheFileAndLine) {
  auto missing_eq = ParseEnvText("/etc/app.env", "A=1\n\nJUST_A_WORD\n");
  ASSERT_FALSE(missing_eq.ok());
  EXPECT_NE(missing_eq.status().message().find("/etc/app.env:3:"), std::string::npos)
      << missing_eq.status();
  EXPECT_NE(missing_eq.status().message().find("JUST_A_WORD"), std::string::npos);

  auto bad_name = ParseEnvText("app.env", "# c\n1ABC=x\n");
  ASSERT_FALSE(bad_name.ok());
  EXPECT_NE(bad_name.status().message().find("app.env:2: '1ABC'"), std::string::npos)
      << bad_name.status();

  auto unterminated = ParseEnvText("app.env", "A=1\nB=\"open\nC=2\n");
  ASSERT_FALSE(unterminated.ok());
  EXPECT_NE(unterminated.status().message().find("app.env:2: unterminated \""), std::string::npos)
      << unterminated.status();

  auto trailing = ParseEnvText("app.env", "A='x' y\n");
  ASSERT_FALSE(trailing.ok());
  EXPECT_NE(trailing.status().message().find("app.env:1:"), std::string::npos);
}

TEST(ParseEnvFileTest, AMissingFileIsNamed) {
  auto env = ParseEnvFile("/nonexistent/app.env");
  ASSERT_FALSE(env.ok());
  EXPECT_NE(env.status().message().find("/nonexistent/app.env"), std::string::npos);
}

}  // namespace
}  // namespace appkit::ctl
