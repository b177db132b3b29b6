#include "guardian/foreground_report.h"

#include <fcntl.h>
#include <unistd.h>

#include "common/base/fd_io.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace appkit::guardian {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Record At(State state, bool ready = false) {
  Record record;
  record.state = state;
  record.ready = ready;
  return record;
}

TEST(ForegroundExitStatusTest, ExitCodeOrSignalPlus128) {
  Record record = At(State::kExited);
  EXPECT_EQ(ForegroundExitStatus(record), 1) << "no entry ever ran";
  record.executor.pid = 42;
  EXPECT_EQ(ForegroundExitStatus(record), 1) << "still running: no end";
  record.executor.end_time = absl::Now();
  record.executor.exit = ProcessExit{false, 0};
  EXPECT_EQ(ForegroundExitStatus(record), 0);
  record.executor.exit = ProcessExit{false, 3};
  EXPECT_EQ(ForegroundExitStatus(record), 3);
  record.executor.exit = ProcessExit{true, 9};
  EXPECT_EQ(ForegroundExitStatus(record), 137);
  record.executor.exit = ProcessExit{true, 15};
  EXPECT_EQ(ForegroundExitStatus(record), 143);
}

TEST(ForegroundReportTest, ReadyOnceWhenRunningAndReady) {
  ForegroundReport report{UniqueFd()};
  EXPECT_THAT(report.Lines(At(State::kCleaningUp)), IsEmpty());
  EXPECT_THAT(report.Lines(At(State::kStarting)), IsEmpty());
  EXPECT_THAT(report.Lines(At(State::kRunning, false)), IsEmpty()) << "ready_timeout: not yet";
  EXPECT_THAT(report.Lines(At(State::kRunning, true)), ElementsAre("READY=1"));
  EXPECT_THAT(report.Lines(At(State::kRunning, true)), IsEmpty()) << "said once";
  EXPECT_THAT(report.Lines(At(State::kWaitingToRestart)), IsEmpty());
  EXPECT_THAT(report.Lines(At(State::kRunning, true)), IsEmpty()) << "a restart: not again";
}

TEST(ForegroundReportTest, StoppingOnceNotForARestart) {
  ForegroundReport report{UniqueFd()};
  Record restart = At(State::kStopping);
  restart.restart_requested = true;
  EXPECT_THAT(report.Lines(restart), IsEmpty()) << "Restart stops to start again";
  EXPECT_THAT(report.Lines(At(State::kFatal)), IsEmpty());
  EXPECT_THAT(report.Lines(At(State::kStopping)), ElementsAre("STOPPING=1"));
  EXPECT_THAT(report.Lines(At(State::kExited)), IsEmpty()) << "said once";
}

TEST(ForegroundReportTest, EndedByItselfSaysStopping) {
  ForegroundReport report{UniqueFd()};
  EXPECT_THAT(report.Lines(At(State::kExited)), ElementsAre("STOPPING=1"));
}

TEST(ForegroundReportTest, WritesLinesThenExitAndCloses) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  UniqueFd read_end(fds[0]);
  {
    ForegroundReport report{UniqueFd(fds[1])};
    report.Update(At(State::kRunning, true));
    report.Watchdog();
    report.Update(At(State::kStopping));
    report.Exit(143);
    report.Watchdog();  // after Exit: nothing, the pipe is closed
  }
  auto all = ReadAll(read_end.get());
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(*all, "READY=1\nWATCHDOG=1\nSTOPPING=1\nEXIT=143\n");
}

}  // namespace
}  // namespace appkit::guardian
