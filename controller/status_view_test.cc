// The views of the workers (ListWorkers, the debug file) built from
// WorkerRecords: every field from where it comes.
#include "controller/status_view.h"

#include "common/base/time_format.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace appkit::controller {
namespace {

absl::Time T(int seconds) { return absl::FromUnixSeconds(1'800'000'000 + seconds); }

WorkerInfo Info() {
  WorkerConfig config;
  config.name = "w1";
  config.entry = "demo:worker";
  config.pid_filename = "/run/w1.pid";
  config.stdout_filename = "/log/w1.out";
  config.stderr_filename = "/log/w1.err";
  return InfoOf(4, config);
}

WorkerRecord Restarted() {
  WorkerRecord record;
  record.state = WorkerState::kRunning;
  record.pid = 321;
  record.start_time = T(10);
  record.restart_count = 1;
  WorkerRun run;
  run.pid = 300;
  run.start_time = T(0);
  run.end_time = T(9);
  run.exit.signaled = true;
  run.exit.code = 9;
  run.description = "killed by signal 9 (SIGKILL)";
  record.history.push_back(run);
  return record;
}

TEST(StatusViewTest, EveryStateHasItsWireName) {
  EXPECT_EQ(StateView(WorkerState::kStarting), v1::WORKER_STATE_STARTING);
  EXPECT_EQ(StateView(WorkerState::kRunning), v1::WORKER_STATE_RUNNING);
  EXPECT_EQ(StateView(WorkerState::kWaitingToRestart), v1::WORKER_STATE_WAITING_TO_RESTART);
  EXPECT_EQ(StateView(WorkerState::kStopping), v1::WORKER_STATE_STOPPING);
  EXPECT_EQ(StateView(WorkerState::kExited), v1::WORKER_STATE_EXITED);
  EXPECT_EQ(StateView(WorkerState::kFatal), v1::WORKER_STATE_FATAL);
}

TEST(StatusViewTest, AFatalWorkerShowsItsFailuresAndItsRunsErrors) {
  WorkerRecord record = Restarted();
  record.state = WorkerState::kFatal;
  record.pid = 0;
  record.consecutive_failures = 4;
  record.history.back().error = "INTERNAL: refused";
  v1::WorkerStatus status = WorkerStatusView(Info(), record);
  EXPECT_EQ(status.state(), v1::WORKER_STATE_FATAL);
  EXPECT_EQ(status.consecutive_failures(), 4);
  EXPECT_EQ(status.history(status.history_size() - 1).error(), "INTERNAL: refused");
}

TEST(StatusViewTest, ARunningWorkerShowsItsRunAndItsHistory) {
  v1::WorkerStatus status = WorkerStatusView(Info(), Restarted());
  EXPECT_EQ(status.index(), 4);
  EXPECT_EQ(status.name(), "w1");
  EXPECT_EQ(status.entry(), "demo:worker");
  EXPECT_EQ(status.state(), v1::WORKER_STATE_RUNNING);
  EXPECT_TRUE(status.running());
  EXPECT_EQ(status.current().pid(), 321);
  EXPECT_EQ(FromProtoTime(status.current().start_time()), T(10));
  EXPECT_EQ(status.restart_count(), 1);
  EXPECT_FALSE(status.has_start_after());
  EXPECT_FALSE(status.has_kill_at());
  ASSERT_EQ(status.history_size(), 1);
  EXPECT_EQ(status.history(0).pid(), 300);
  EXPECT_EQ(status.history(0).exitcode(), -9);
  EXPECT_EQ(status.history(0).description(), "killed by signal 9 (SIGKILL)");
  EXPECT_EQ(FromProtoTime(status.history(0).start_time()), T(0));
  EXPECT_EQ(FromProtoTime(status.history(0).end_time()), T(9));
  EXPECT_EQ(status.pid_filename(), "/run/w1.pid");
  EXPECT_EQ(status.stdout_filename(), "/log/w1.out");
  EXPECT_EQ(status.stderr_filename(), "/log/w1.err");
}

TEST(StatusViewTest, AWorkerNeverStartedHasNoCurrentRun) {
  v1::WorkerStatus status = WorkerStatusView(Info(), WorkerRecord());
  EXPECT_EQ(status.state(), v1::WORKER_STATE_STARTING);
  EXPECT_FALSE(status.running());
  EXPECT_FALSE(status.has_current());
  EXPECT_EQ(status.history_size(), 0);
}

TEST(StatusViewTest, AWaitingWorkerShowsWhenItStartsAgainAndItsLastRun) {
  WorkerRecord record = Restarted();
  record.state = WorkerState::kWaitingToRestart;
  record.pid = 0;
  record.start_after = T(20);
  v1::WorkerStatus status = WorkerStatusView(Info(), record);
  EXPECT_FALSE(status.running());
  EXPECT_EQ(status.current().pid(), 0);
  EXPECT_EQ(FromProtoTime(status.current().start_time()), T(10));
  EXPECT_EQ(FromProtoTime(status.start_after()), T(20));
}

TEST(StatusViewTest, AStoppingWorkerShowsItsKillTime) {
  WorkerRecord record = Restarted();
  record.state = WorkerState::kStopping;
  record.kill_at = T(30);
  v1::WorkerStatus status = WorkerStatusView(Info(), record);
  EXPECT_EQ(status.state(), v1::WORKER_STATE_STOPPING);
  EXPECT_EQ(FromProtoTime(status.kill_at()), T(30));
}

TEST(StatusViewTest, ListWorkersHasTheControllerTheQuitFlagAndEveryWorkerInOrder) {
  WorkerInfo second = Info();
  second.index = 5;
  second.name = "w2";
  v1::ListWorkersResponse response =
      ListWorkersView(77, true, {Info(), second}, {Restarted(), WorkerRecord()});
  EXPECT_EQ(response.controller_pid(), 77);
  EXPECT_TRUE(response.quit_requested());
  ASSERT_EQ(response.workers_size(), 2);
  EXPECT_EQ(response.workers(0).name(), "w1");
  EXPECT_EQ(response.workers(1).name(), "w2");
  EXPECT_EQ(response.workers(1).index(), 5);
}

TEST(StatusViewTest, TheDebugJsonIsTheDebugFileFormatOfTheSameRecords) {
  std::string text = DebugJsonView(T(40), {Info()}, {Restarted()});
  nlohmann::json json = nlohmann::json::parse(text);
  ASSERT_EQ(json["worker_info_list"].size(), 1u);
  const nlohmann::json& worker = json["worker_info_list"][0];
  EXPECT_EQ(worker["name"], "w1");
  EXPECT_EQ(worker["index"], 4);
  EXPECT_EQ(worker["pid"], 321);
  EXPECT_EQ(worker["history"][0]["exitcode"], -9);
  EXPECT_EQ(json["updated_at"], ::appkit::FormatTime(T(40)));
}

}  // namespace
}  // namespace appkit::controller
