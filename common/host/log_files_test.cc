// common/log_files: reopening in place while threads log, planted names
// on reopen, Python's rotation names, and disk-full reports.
#include "common/host/log_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "spdlog/spdlog.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::FileExists;
using ::appkit::testing::ReadFileOrEmpty;

std::shared_ptr<spdlog::logger> LoggerOver(spdlog::sink_ptr sink) {
  auto logger = std::make_shared<spdlog::logger>("test", sink);
  logger->set_pattern("%v");
  return logger;
}

int CountLines(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) ++lines;
  return lines;
}

TEST(LogFilesTest, ReopenAfterLogrotateWritesToTheNewFile) {
  testing::TempDir dir;
  auto sink = LogFileSink::Open(dir.File("app.log"));
  ASSERT_TRUE(sink.ok()) << sink.status();
  auto logger = LoggerOver(*sink);
  logger->info("before");
  ASSERT_EQ(rename(dir.File("app.log").c_str(), dir.File("app.log.1").c_str()), 0);
  logger->info("in flight");  // still the old file: nothing is lost
  ASSERT_TRUE((*sink)->Reopen().ok());
  logger->info("after");
  EXPECT_EQ(ReadFileOrEmpty(dir.File("app.log.1")), "before\nin flight\n");
  EXPECT_EQ(ReadFileOrEmpty(dir.File("app.log")), "after\n");
}

TEST(LogFilesTest, ReopenOntoAPlantedSymlinkKeepsTheOldFile) {
  testing::TempDir dir;
  { std::ofstream(dir.File("victim")) << "precious\n"; }
  auto sink = LogFileSink::Open(dir.File("app.log"));
  ASSERT_TRUE(sink.ok());
  auto logger = LoggerOver(*sink);
  ASSERT_EQ(rename(dir.File("app.log").c_str(), dir.File("app.log.1").c_str()), 0);
  ASSERT_EQ(symlink(dir.File("victim").c_str(), dir.File("app.log").c_str()), 0);
  absl::Status reopened = (*sink)->Reopen();
  EXPECT_TRUE(absl::StrContains(reopened.message(), "is a symbolic link")) << reopened;
  logger->info("kept");
  EXPECT_EQ(ReadFileOrEmpty(dir.File("app.log.1")), "kept\n");
  EXPECT_EQ(ReadFileOrEmpty(dir.File("victim")), "precious\n");
}

TEST(LogFilesTest, ReopenOntoAPlantedFifoNeitherBlocksNorSwitches) {
  testing::TempDir dir;
  auto sink = LogFileSink::Open(dir.File("app.log"));
  ASSERT_TRUE(sink.ok());
  auto logger = LoggerOver(*sink);
  ASSERT_EQ(rename(dir.File("app.log").c_str(), dir.File("app.log.1").c_str()), 0);
  ASSERT_EQ(mkfifo(dir.File("app.log").c_str(), 0666), 0);
  EXPECT_FALSE((*sink)->Reopen().ok());
  logger->info("kept");
  EXPECT_EQ(ReadFileOrEmpty(dir.File("app.log.1")), "kept\n");
}

// Item 4 of issue 11 in one process: reopening never loses or tears a
// line, whatever the logging threads are doing.
TEST(LogFilesTest, ThousandReopensUnderFourLoggingThreadsLoseNoLine) {
  testing::TempDir dir;
  auto sink = LogFileSink::Open(dir.File("app.log"));
  ASSERT_TRUE(sink.ok());
  auto logger = LoggerOver(*sink);
  std::atomic<bool> stop{false};
  std::atomic<int> logged{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        logger->info("thread {} line {} of a log line long enough to matter", t, i);
        ++logged;
      }
    });
  }
  for (int round = 0; round < 1000; ++round) {
    if (round % 100 == 0) {
      rename(dir.File("app.log").c_str(), dir.File(absl::StrCat("app.log.", round)).c_str());
    }
    ASSERT_TRUE((*sink)->Reopen().ok());
  }
  stop = true;
  for (std::thread& thread : threads) thread.join();
  int lines = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    lines += CountLines(entry.path());
  }
  EXPECT_EQ(lines, logged.load());
}

TEST(LogFilesTest, SizeRotationKeepsBackupCountFiles) {
  testing::TempDir dir;
  auto sink = SizeRotatingFileSink::Open(dir.File("app.log"), 100, 2);
  ASSERT_TRUE(sink.ok());
  auto logger = LoggerOver(*sink);
  for (int i = 0; i < 20; ++i) logger->info("line {:02} of thirty bytes....", i);
  EXPECT_TRUE(FileExists(dir.File("app.log")));
  EXPECT_TRUE(FileExists(dir.File("app.log.1")));
  EXPECT_TRUE(FileExists(dir.File("app.log.2")));
  EXPECT_FALSE(FileExists(dir.File("app.log.3")));
  for (const char* name : {"app.log", "app.log.1", "app.log.2"}) {
    struct stat st;
    ASSERT_EQ(stat(dir.File(name).c_str(), &st), 0);
    EXPECT_LE(st.st_size, 100) << name;
  }
  // The newest lines are in the live file, the older ones shifted down.
  EXPECT_TRUE(absl::StrContains(ReadFileOrEmpty(dir.File("app.log")), "line 19"));
  EXPECT_TRUE(absl::StrContains(ReadFileOrEmpty(dir.File("app.log.2")), "line 1"));
}

class FakeClock {
 public:
  explicit FakeClock(absl::Time now) : now_(now) {}
  TimedRotatingFileSink::Clock clock() {
    return [this] { return now_; };
  }
  void Advance(absl::Duration by) { now_ += by; }

 private:
  absl::Time now_;
};

absl::Time Utc(int y, int m, int d, int hh, int mm, int ss) {
  return absl::FromCivil(absl::CivilSecond(y, m, d, hh, mm, ss), absl::UTCTimeZone());
}

TEST(LogFilesTest, MidnightRotationNamesTheOldFileByItsDay) {
  testing::TempDir dir;
  FakeClock clock(Utc(2026, 11, 30, 23, 59, 58));
  auto sink = TimedRotatingFileSink::Open(dir.File("app.log"), "midnight", 1, 7, clock.clock());
  ASSERT_TRUE(sink.ok()) << sink.status();
  auto logger = LoggerOver(*sink);
  logger->info("monday");
  clock.Advance(absl::Seconds(3));
  logger->info("tuesday");
  EXPECT_EQ(ReadFileOrEmpty(dir.File("app.log.2026-11-30")), "monday\n");
  EXPECT_EQ(ReadFileOrEmpty(dir.File("app.log")), "tuesday\n");
}

TEST(LogFilesTest, HourlyRotationUsesPythonsSuffix) {
  testing::TempDir dir;
  FakeClock clock(Utc(2026, 11, 30, 14, 30, 0));
  auto sink = TimedRotatingFileSink::Open(dir.File("app.log"), "H", 1, 0, clock.clock());
  ASSERT_TRUE(sink.ok());
  auto logger = LoggerOver(*sink);
  logger->info("at 14");
  clock.Advance(absl::Hours(1));
  logger->info("at 15");
  EXPECT_EQ(ReadFileOrEmpty(dir.File("app.log.2026-11-30_14")), "at 14\n");
  EXPECT_EQ(ReadFileOrEmpty(dir.File("app.log")), "at 15\n");
}

TEST(LogFilesTest, TimedRotationKeepsOnlyBackupCountOldFiles) {
  testing::TempDir dir;
  FakeClock clock(Utc(2026, 11, 30, 14, 0, 0));
  auto sink = TimedRotatingFileSink::Open(dir.File("app.log"), "S", 1, 2, clock.clock());
  ASSERT_TRUE(sink.ok());
  auto logger = LoggerOver(*sink);
  for (int i = 0; i < 5; ++i) {
    logger->info("second {}", i);
    clock.Advance(absl::Seconds(1));
  }
  logger->info("last");
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    names.push_back(entry.path().filename());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"app.log", "app.log.2026-11-30_14-00-03",
                                             "app.log.2026-11-30_14-00-04"}));
}

TEST(LogFilesTest, AFailedWriteIsReportedNamingTheFileAndTheLineGoesToStderr) {
  auto sink = LogFileSink::Open("/dev/full");  // every write: ENOSPC
  ASSERT_TRUE(sink.ok()) << sink.status();
  auto logger = LoggerOver(*sink);
  testing::TempDir dir;
  int saved = dup(2);
  int err = open(dir.File("stderr").c_str(), O_WRONLY | O_CREAT, 0644);
  dup2(err, 2);
  close(err);
  logger->info("first line");
  logger->info("second line");  // the error is said once a minute, not per line
  dup2(saved, 2);
  close(saved);
  const std::string reported = ReadFileOrEmpty(dir.File("stderr"));
  EXPECT_TRUE(absl::StrContains(reported, "cannot write log file /dev/full: No space left"))
      << reported;
  // The lines themselves went to stderr instead.
  EXPECT_TRUE(absl::EndsWith(reported, "\nfirst line\nsecond line\n")) << reported;
  EXPECT_EQ(CountLines(dir.File("stderr")), 3) << reported;
}

}  // namespace
}  // namespace appkit
