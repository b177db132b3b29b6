// guardian/status_view: the wire status as a view of the machine's record.
#include "guardian/status_view.h"

#include "common/base/time_format.h"
#include "gtest/gtest.h"

namespace appkit::guardian {
namespace {

absl::Time T0() { return absl::FromUnixSeconds(1'800'000'000); }

StatusFacts Facts() {
  StatusFacts facts;
  facts.guardian_pid = 42;
  facts.start_time = T0();
  facts.daemon_entry = "demo:main";
  facts.pid_filename = "/run/demo.pid";
  facts.guardian_socket = "/run/demo.pid.sock";
  facts.restart_interval = absl::Seconds(1);
  facts.control_plane_plugin = "/opt/appkit/libappkit_control_plane.so";
  return facts;
}

Run Ended(pid_t pid, int code, bool signaled) {
  Run run;
  run.pid = pid;
  run.start_time = T0();
  run.end_time = T0() + absl::Seconds(2);
  run.exit.code = code;
  run.exit.signaled = signaled;
  run.description = run.exit.Describe();
  return run;
}

TEST(StatusViewTest, BeforeTheFirstExecutorItIsStartingWithNoRun) {
  const v1::GuardianStatus status = StatusView(Record(), Facts());
  EXPECT_EQ(status.state(), v1::GUARDIAN_STATE_STARTING);
  EXPECT_FALSE(status.has_executor());
  EXPECT_FALSE(status.executor_running());
  EXPECT_EQ(status.guardian_pid(), 42);
  EXPECT_EQ(FromProtoTime(status.guardian_start_time()), T0());
  EXPECT_EQ(status.daemon_entry(), "demo:main");
  EXPECT_EQ(status.pid_filename(), "/run/demo.pid");
  EXPECT_EQ(status.control_socket(), "/run/demo.pid.sock");
  EXPECT_EQ(FromProtoDuration(status.restart_interval()), absl::Seconds(1));
  EXPECT_EQ(status.control_plane_plugin(), "/opt/appkit/libappkit_control_plane.so");
  EXPECT_EQ(status.controller_socket(), "");
  EXPECT_FALSE(status.has_restart_at());
  EXPECT_FALSE(status.has_kill_at());
}

TEST(StatusViewTest, ARunningExecutorHasNoEndAndExitcodeZero) {
  Record record;
  record.state = State::kRunning;
  record.executor = guardian::Run{100, T0(), std::nullopt, {}, "running"};
  record.executor_running = true;
  StatusFacts facts = Facts();
  facts.controller_socket = "/run/demo.pid.workers.sock";
  const v1::GuardianStatus status = StatusView(record, facts);
  EXPECT_EQ(status.state(), v1::GUARDIAN_STATE_RUNNING);
  EXPECT_TRUE(status.executor_running());
  EXPECT_EQ(status.executor().pid(), 100);
  EXPECT_EQ(FromProtoTime(status.executor().start_time()), T0());
  EXPECT_FALSE(status.executor().has_end_time());
  EXPECT_EQ(status.executor().exitcode(), 0);
  EXPECT_EQ(status.executor().description(), "running");
  EXPECT_EQ(status.controller_socket(), "/run/demo.pid.workers.sock");
}

TEST(StatusViewTest, EndedRunsCarryTheirEndAndExitcodeOldestFirst) {
  Record record;
  record.state = State::kWaitingToRestart;
  record.history = {Ended(100, 3, false), Ended(101, 9, true)};
  record.executor = record.history.back();
  record.restart_count = 1;
  record.restart_at = T0() + absl::Seconds(3);
  const v1::GuardianStatus status = StatusView(record, Facts());
  EXPECT_EQ(status.state(), v1::GUARDIAN_STATE_WAITING_TO_RESTART);
  EXPECT_EQ(status.restart_count(), 1);
  EXPECT_EQ(FromProtoTime(status.restart_at()), T0() + absl::Seconds(3));
  ASSERT_EQ(status.history_size(), 2);
  EXPECT_EQ(status.history(0).pid(), 100);
  EXPECT_EQ(status.history(0).exitcode(), 3);
  EXPECT_EQ(status.history(0).description(), "exited with code 3");
  EXPECT_EQ(status.history(1).exitcode(), -9);
  EXPECT_EQ(FromProtoTime(status.history(1).end_time()), T0() + absl::Seconds(2));
  EXPECT_EQ(status.executor().pid(), 101);
  EXPECT_FALSE(status.executor_running());
}

TEST(StatusViewTest, ClearingLeftoversOfAFailedRunIsWaitingToRestart) {
  Record record;
  record.state = State::kCleaningUp;
  record.executor = Ended(100, 1, false);
  record.restart_at = T0() + absl::Seconds(3);
  const v1::GuardianStatus status = StatusView(record, Facts());
  EXPECT_EQ(status.state(), v1::GUARDIAN_STATE_WAITING_TO_RESTART);
  EXPECT_EQ(FromProtoTime(status.restart_at()), T0() + absl::Seconds(3));
}

TEST(StatusViewTest, StoppingShowsTheKillTimeAndTheReason) {
  Record record;
  record.state = State::kStopping;
  record.executor = guardian::Run{100, T0(), std::nullopt, {}, "running"};
  record.executor_running = true;
  record.kill_at = T0() + absl::Seconds(10);
  record.quit_reason = "SIGTERM from pid 1";
  const v1::GuardianStatus status = StatusView(record, Facts());
  EXPECT_EQ(status.state(), v1::GUARDIAN_STATE_STOPPING);
  EXPECT_EQ(FromProtoTime(status.kill_at()), T0() + absl::Seconds(10));
  EXPECT_EQ(status.quit_reason(), "SIGTERM from pid 1");
}

TEST(StatusViewTest, EveryStateHasAWireState) {
  for (int i = 0; i < kStateCount; ++i) {
    Record record;
    record.state = static_cast<State>(i);
    EXPECT_NE(WireState(record), v1::GUARDIAN_STATE_UNSPECIFIED) << StateName(record.state);
  }
  Record exited;
  exited.state = State::kExited;
  EXPECT_EQ(WireState(exited), v1::GUARDIAN_STATE_EXITED);
}

TEST(StatusViewTest, WithoutRestartIntervalNoneIsShown) {
  StatusFacts facts = Facts();
  facts.restart_interval.reset();
  EXPECT_FALSE(StatusView(Record(), facts).has_restart_interval());
}

TEST(StatusViewTest, FatalShowsAsFatalWithTheFailuresAndTheRunsError) {
  Record record;
  record.state = State::kFatal;
  record.fatal = true;
  record.consecutive_failures = 3;
  guardian::Run run = Ended(100, 1, false);
  run.error = "UNAVAILABLE: database refused";
  record.executor = run;
  record.history.push_back(run);
  v1::GuardianStatus status = StatusView(record, Facts());
  EXPECT_EQ(status.state(), v1::GUARDIAN_STATE_FATAL);
  EXPECT_EQ(status.consecutive_failures(), 3);
  EXPECT_EQ(status.history(0).error(), "UNAVAILABLE: database refused");
  EXPECT_EQ(status.executor().error(), "UNAVAILABLE: database refused");
  // Clearing what the last run left, on the way to FATAL: FATAL already.
  record.state = State::kCleaningUp;
  EXPECT_EQ(WireState(record), v1::GUARDIAN_STATE_FATAL);
}

}  // namespace
}  // namespace appkit::guardian
