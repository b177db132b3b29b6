// common/logging: the JSON form, what ConfigureLogging sets up, appkit's
// own lines collapsed when they repeat (user lines never), reopening.
#include "common/log.h"
#include "common/logging.h"

#include <unistd.h>

#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "spdlog/spdlog.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::ReadFileOrEmpty;

int Count(const std::string& text, const std::string& part) {
  int count = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) {
    ++count;
  }
  return count;
}

LoggingConfig FileConfig(const std::string& path) {
  auto config = LoggingConfigFromJson(
      absl::StrCat(R"({"level": "DEBUG", "format": "%l %v", "handlers": [{"file": {"filename": ")",
                   path, R"("}}]})"));
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

TEST(LoggingTest, BadConfigsNameTheirCulprit) {
  struct Case {
    const char* json;
    const char* culprit;
  } cases[] = {
      {R"({"level": "LOUD"})", "LOUD"},
      {R"({"handlers": [{}]})", "no kind"},
      {R"({"handlers": [{"file": {}}]})", "no filename"},
      {R"({"handlers": [{"rotatingFile": {"filename": "/tmp/x.log", "maxBytes": 0}}]})",
       "maxBytes"},
      {R"({"handlers": [{"timedRotatingFile": {"filename": "/tmp/x.log", "when": "W9"}}]})",
       "W9"},
      {R"({"handlers": [{"file": {"filename": "/no/such/dir/x.log"}}]})", "/no/such/dir"},
      {R"({"colour": true})", "colour"},
  };
  for (const Case& c : cases) {
    auto config = LoggingConfigFromJson(c.json);
    EXPECT_FALSE(config.ok()) << c.json;
    EXPECT_TRUE(absl::StrContains(config.status().message(), c.culprit))
        << c.json << ": " << config.status();
  }
}

TEST(LoggingTest, OwnRepeatedLinesAreCollapsedUserLinesNever) {
  testing::TempDir dir;
  const std::string log = dir.File("app.log");
  ASSERT_TRUE(internal::ConfigureLogging(FileConfig(log), "test").ok());
  for (int i = 0; i < 100; ++i) Log().warn("accept failed: Too many open files");
  Log().info("something else");
  for (int i = 0; i < 100; ++i) spdlog::info("user tick");
  const std::string text = ReadFileOrEmpty(log);
  EXPECT_EQ(Count(text, "accept failed"), 1) << text;
  EXPECT_TRUE(absl::StrContains(text, "Skipped 99 duplicate messages")) << text;
  EXPECT_EQ(Count(text, "user tick"), 100);
}

TEST(LoggingTest, ReopenFollowsLogrotate) {
  testing::TempDir dir;
  const std::string log = dir.File("app.log");
  ASSERT_TRUE(internal::ConfigureLogging(FileConfig(log), "test").ok());
  spdlog::info("one");
  ASSERT_EQ(rename(log.c_str(), (log + ".1").c_str()), 0);
  ASSERT_TRUE(internal::ReopenLogFiles().ok());
  spdlog::info("two");
  Log().info("three");
  EXPECT_EQ(ReadFileOrEmpty(log + ".1"), "info one\n");
  EXPECT_EQ(ReadFileOrEmpty(log), "info two\ninfo three\n");
}

TEST(LoggingTest, AReopenThatCannotOpenKeepsTheOldFileAndSaysWhy) {
  testing::TempDir dir;
  const std::string log = dir.File("app.log");
  ASSERT_TRUE(internal::ConfigureLogging(FileConfig(log), "test").ok());
  ASSERT_EQ(rename(log.c_str(), (log + ".1").c_str()), 0);
  ASSERT_EQ(symlink("/etc/passwd", log.c_str()), 0);
  absl::Status reopened = internal::ReopenLogFiles();
  EXPECT_TRUE(absl::StrContains(reopened.message(), log + " is a symbolic link")) << reopened;
  EXPECT_TRUE(absl::StrContains(reopened.message(), "still writing to the old file"));
  spdlog::info("kept");
  EXPECT_EQ(ReadFileOrEmpty(log + ".1"), "info kept\n");
}

TEST(LoggingTest, WithoutAConfigOnlyWarningsReachStderr) {
  ASSERT_TRUE(internal::ConfigureLogging(std::nullopt, "test").ok());
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::warn);
  EXPECT_EQ(Log().level(), spdlog::level::warn);
}

}  // namespace
}  // namespace appkit
