// common/logging: the JSON form, what ConfigureLogging sets up, appkit's
// own lines collapsed when they repeat (user lines never), reopening.
#include "common/runtime/logging.h"
#include "common/base/log.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>

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
      {R"({"handlers": [{"timedRotatingFile": {"filename": "/tmp/x.log", "when": "W9"}}]})", "W9"},
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

// A datagram socket bound at `path` for the test (the daemon it stands
// for is not running here), removed at the end; datagrams read back.
class DatagramReceiver {
 public:
  explicit DatagramReceiver(const std::string& path) : path_(path) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
    bound_ = bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~DatagramReceiver() {
    close(fd_);
    if (bound_) unlink(path_.c_str());
  }
  bool bound() const { return bound_; }
  std::string Next() {
    pollfd wait = {fd_, POLLIN, 0};
    if (poll(&wait, 1, 5000) != 1) return "";
    char buf[8192];
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, n) : "";
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
};

TEST(LoggingTest, SyslogHandlerSendsToTheLocalSyslog) {
  if (std::filesystem::exists("/dev/log")) GTEST_SKIP() << "a syslog daemon owns /dev/log here";
  DatagramReceiver syslog("/dev/log");
  if (!syslog.bound()) GTEST_SKIP() << "cannot bind /dev/log here (not root?)";
  auto config = LoggingConfigFromJson(
      R"({"handlers": [{"syslog": {"ident": "appkit-test", "facility": "local3"}}]})");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(internal::ConfigureLogging(*config, "test").ok());
  spdlog::warn("disk is getting full");
  const std::string line = syslog.Next();
  // <PRI> = local3 (19) * 8 + warning (4) = 156.
  EXPECT_TRUE(absl::StartsWith(line, "<156>")) << line;
  EXPECT_TRUE(
      absl::StrContains(line, absl::StrCat("appkit-test[", getpid(), "]: disk is getting full")))
      << line;
}

TEST(LoggingTest, JournaldHandlerSpeaksTheNativeProtocol) {
  const std::string socket = "/run/systemd/journal/socket";
  if (std::filesystem::exists(socket))
    GTEST_SKIP() << "a journal runs here; not replacing its socket";
  DatagramReceiver journal(socket);
  if (!journal.bound()) GTEST_SKIP() << "cannot bind " << socket << " here (not root?)";
  auto config = LoggingConfigFromJson(R"({"handlers": [{"journald": {"identifier": "demo"}}]})");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(internal::ConfigureLogging(*config, "test").ok());
  spdlog::error("one line");
  EXPECT_EQ(journal.Next(), "MESSAGE=one line\nPRIORITY=3\nSYSLOG_IDENTIFIER=demo\n");
  spdlog::info("two\nlines");
  const std::string binary = journal.Next();
  EXPECT_EQ(binary.substr(0, 8), "MESSAGE\n");
  EXPECT_EQ(binary[8], 9);  // the 64-bit length, little-endian
  EXPECT_TRUE(absl::StrContains(binary, "two\nlines\nPRIORITY=6\n")) << binary;
}

TEST(LoggingTest, StdoutHandlerWritesToStdout) {
  testing::TempDir dir;
  auto config = LoggingConfigFromJson(R"({"format": "%l %v", "handlers": [{"stdout": {}}]})");
  ASSERT_TRUE(config.ok()) << config.status();
  fflush(stdout);
  int saved = dup(1);
  int out = open(dir.File("out").c_str(), O_WRONLY | O_CREAT, 0644);
  dup2(out, 1);
  close(out);
  ASSERT_TRUE(internal::ConfigureLogging(*config, "test").ok());
  spdlog::info("to the container's log");
  spdlog::default_logger()->flush();
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  EXPECT_EQ(ReadFileOrEmpty(dir.File("out")), "info to the container's log\n");
}

TEST(LoggingTest, AnUnknownSyslogFacilityIsNamed) {
  auto config = LoggingConfigFromJson(R"({"handlers": [{"syslog": {"facility": "local9"}}]})");
  EXPECT_TRUE(absl::StrContains(config.status().message(), "local9")) << config.status();
}

TEST(LoggingTest, WithoutAConfigOnlyWarningsReachStderr) {
  ASSERT_TRUE(internal::ConfigureLogging(std::nullopt, "test").ok());
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::warn);
  EXPECT_EQ(Log().level(), spdlog::level::warn);
}

}  // namespace
}  // namespace appkit
