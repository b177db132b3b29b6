// common/command_line: shell-like word splitting without a shell, and
// systemd's EnvironmentFile syntax.
#include "common/command_line.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace appkit {
namespace {

using Words = std::vector<std::string>;
using Env = std::vector<std::pair<std::string, std::string>>;

TEST(CommandLineTest, WordsAreSplitAsAShellWould) {
  EXPECT_EQ(*SplitCommandLine("/bin/sleep 10"), (Words{"/bin/sleep", "10"}));
  EXPECT_EQ(*SplitCommandLine("  prog\t'a b' \"c \\\"d\\\"\" e\\ f  "),
            (Words{"prog", "a b", "c \"d\"", "e f"}));
  EXPECT_EQ(*SplitCommandLine("prog 'it''s' x\"y\"z"), (Words{"prog", "its", "xyz"}));
  EXPECT_EQ(*SplitCommandLine("prog \\\n  next"), (Words{"prog", "next"}));
  EXPECT_EQ(*SplitCommandLine("prog '$HOME' \"a#b\" a#b"), (Words{"prog", "$HOME", "a#b", "a#b"}));
  EXPECT_EQ(*SplitCommandLine("prog ''"), (Words{"prog", ""}));
}

TEST(CommandLineTest, WhatNeedsAShellIsRefusedNamingIt) {
  for (const char* text : {"a | b", "a; b", "a && b", "a > f", "echo $HOME", "ls *.txt",
                           "echo `date`", "cd ~", "echo \"$HOME\"", "prog # comment"}) {
    auto words = SplitCommandLine(text);
    EXPECT_FALSE(words.ok()) << text;
    EXPECT_TRUE(absl::StrContains(words.status().message(), text)) << words.status();
  }
  EXPECT_TRUE(absl::StrContains(SplitCommandLine("a 'b").status().message(), "unterminated"));
  EXPECT_TRUE(absl::StrContains(SplitCommandLine("   ").status().message(), "empty"));
}

TEST(CommandLineTest, EnvironmentFilesReadAsSystemdReadsThem) {
  const std::string file =
      "# comment\n"
      "; another\n"
      "\n"
      "PLAIN=value with  inner  blanks   \n"
      "  SPACED = kept\n"
      "ESCAPED=a\\ b\\\\c\n"
      "SINGLE='verbatim \\n $x'\n"
      "DOUBLE=\"say \\\"hi\\\" \\$HOME\"\n"
      "MULTI='line one\n"
      "line two'\n"
      "CONTINUED=first\\\n"
      "second\n"
      "EMPTY=\n";
  auto env = ParseEnvironmentFile(file, "app.env");
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(*env, (Env{{"PLAIN", "value with  inner  blanks"},
                       {"SPACED", "kept"},
                       {"ESCAPED", "a b\\c"},
                       {"SINGLE", "verbatim \\n $x"},
                       {"DOUBLE", "say \"hi\" $HOME"},
                       {"MULTI", "line one\nline two"},
                       {"CONTINUED", "firstsecond"},
                       {"EMPTY", ""}}));
}

TEST(CommandLineTest, EnvironmentFileErrorsNameFileAndLine) {
  struct Case {
    const char* text;
    const char* error;
  } cases[] = {
      {"A=1\nno equals sign\n", "app.env:2: 'no equals sign' is not a KEY=VALUE"},
      {"A=1\n\n1BAD=x\n", "app.env:3: '1BAD' is not a variable name"},
      {"A='open\nstill open\n", "app.env:1: unterminated ' quote"},
      {"A=\"x\" trailing\n", "app.env:1: text after the closing quote of A"},
  };
  for (const Case& c : cases) {
    auto env = ParseEnvironmentFile(c.text, "app.env");
    EXPECT_FALSE(env.ok()) << c.text;
    EXPECT_TRUE(absl::StrContains(env.status().message(), c.error)) << env.status();
  }
}

}  // namespace
}  // namespace appkit
