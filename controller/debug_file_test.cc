// DebugFile with a real loop and a real file: changes are written at most
// once per kSpacing, all of them, and only when something changed.
#include "controller/debug_file.h"

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "testing/temp_dir.h"

namespace appkit::controller {
namespace {

class DebugFileTest : public ::testing::Test {
 protected:
  // Runs the loop for `duration`.
  void RunFor(absl::Duration duration) {
    loop_.AddTimer(absl::Now() + duration, [this] { loop_.Stop(); });
    loop_.Run();
  }
  testing::TempDir dir_;
  EventLoop loop_;
  int version_ = 0;
  std::string published_;
};

TEST_F(DebugFileTest, ChangesWithinTheSpacingMakeOneWriteOfTheLastState) {
  DebugFile file(
      &loop_, dir_.File("debug.json"),
      [this](absl::Time) { return "version " + std::to_string(version_) + "\n"; },
      [this](const std::string& json) { published_ = json; });
  for (version_ = 1; version_ <= 5; ++version_) file.MarkChanged();
  --version_;
  EXPECT_EQ(file.writes(), 0);  // not from within MarkChanged
  RunFor(DebugFile::kSpacing * 3);
  EXPECT_EQ(file.writes(), 1);
  EXPECT_EQ(testing::ReadFileOrEmpty(dir_.File("debug.json")), "version 5\n");
  EXPECT_EQ(published_, "version 5\n");
}

TEST_F(DebugFileTest, NothingChangedNothingWritten) {
  DebugFile file(
      &loop_, dir_.File("debug.json"), [](absl::Time) { return std::string("x"); },
      [](const std::string&) {});
  file.Flush();
  RunFor(DebugFile::kSpacing * 2);
  EXPECT_EQ(file.writes(), 0);
  EXPECT_FALSE(testing::FileExists(dir_.File("debug.json")));
}

TEST_F(DebugFileTest, TwoWritesAreAtLeastTheSpacingApart) {
  std::vector<absl::Time> times;
  DebugFile file(
      &loop_, dir_.File("debug.json"),
      [&](absl::Time now) {
        times.push_back(now);
        return std::string("x");
      },
      [](const std::string&) {});
  file.MarkChanged();
  loop_.AddTimer(absl::Now() + DebugFile::kSpacing / 2, [&] { file.MarkChanged(); });
  RunFor(DebugFile::kSpacing * 4);
  ASSERT_EQ(times.size(), 2u);
  EXPECT_GE(times[1] - times[0], DebugFile::kSpacing);
}

TEST_F(DebugFileTest, FlushWritesAtOnceWhatChanged) {
  DebugFile file(
      &loop_, dir_.File("debug.json"), [](absl::Time) { return std::string("now\n"); },
      [](const std::string&) {});
  file.MarkChanged();
  file.Flush();
  EXPECT_EQ(file.writes(), 1);
  EXPECT_EQ(testing::ReadFileOrEmpty(dir_.File("debug.json")), "now\n");
  RunFor(DebugFile::kSpacing * 2);
  EXPECT_EQ(file.writes(), 1);  // the timer went with the flush
}

TEST_F(DebugFileTest, WithoutAPathTheJsonIsStillPublished) {
  std::string published;
  DebugFile file(
      &loop_, std::nullopt, [](absl::Time) { return std::string("{}"); },
      [&](const std::string& json) { published = json; });
  file.MarkChanged();
  file.Flush();
  EXPECT_EQ(published, "{}");
}

TEST(DebugFileSpacingTest, ACostlyWriteSpacesTheNextOneSoItNeverTakesMoreThanATenth) {
  EXPECT_EQ(DebugFile::SpacingAfter(absl::ZeroDuration()), DebugFile::kSpacing);
  EXPECT_EQ(DebugFile::SpacingAfter(absl::Microseconds(200)), DebugFile::kSpacing);
  EXPECT_EQ(DebugFile::SpacingAfter(absl::Milliseconds(5)), absl::Milliseconds(50));
  EXPECT_EQ(DebugFile::SpacingAfter(absl::Milliseconds(30)), absl::Milliseconds(300));
}

}  // namespace
}  // namespace appkit::controller
