// Readiness, the watchdog and honest health (SPEC §8), end to end: the real
// guardian, executor, controller and workers, started through the public
// API in a private temp dir; states are waited for with deadlines, and
// every process a test sees is killed if it survives the test.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/appkit.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "proto/controller.grpc.pb.h"
#include "proto/guardian.grpc.pb.h"
#include "testing/grpc_probe.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::FileExists;
using ::appkit::testing::PidOfEvent;
using ::appkit::testing::ProcessAlive;
using ::appkit::testing::ReadFileOrEmpty;
using ::appkit::testing::WaitFor;
using ::appkit::testing::WaitForExit;
using Json = nlohmann::json;

std::string Module() { return testing::RunfilePath("testing/libsupervision_module.so"); }
std::string PoolModule() { return testing::RunfilePath("testing/libtest_module.so"); }

testing::CommandResult Ctl(std::vector<std::string> args) {
  args.insert(args.begin(), testing::RunfilePath("client/appkitctl"));
  return testing::RunCommand(args);
}

// Processes with a file of `dir` open (the daemon's stderr is there).
std::vector<pid_t> ProcessesUsing(const std::string& dir) {
  std::vector<pid_t> found;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
    pid_t pid = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &pid) || pid == getpid()) continue;
    for (const auto& fd : std::filesystem::directory_iterator(entry.path() / "fd", error)) {
      const auto target = std::filesystem::read_symlink(fd.path(), error);
      if (!error && target.string().rfind(dir + "/", 0) == 0) {
        found.push_back(pid);
        break;
      }
    }
  }
  return found;
}

class SupervisionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.pid_filename = dir_.File("d.pid");
    options_.daemon_args.Set("events", events());
    options_.stderr_filename = dir_.File("err.txt");
    options_.stop_timeout = absl::Seconds(5);
  }

  void TearDown() override {
    if (guardian_ > 0 && ProcessAlive(guardian_)) {
      kill(guardian_, SIGTERM);
      WaitForExit(guardian_, absl::Seconds(15));
    }
  }

  std::string events() const { return dir_.File("events.txt"); }
  std::string socket() const { return options_.pid_filename + ".sock"; }

  DaemonStartResult Start(const std::string& entry) {
    options_.daemon_entry = entry;
    DaemonStartResult result = StartDaemon(options_);
    if (result.pid) {
      guardian_ = *result.pid;
      reaper_.Track(guardian_);
    }
    return result;
  }

  v1::GuardianStatus Status() {
    auto stub = v1::Guardian::NewStub(
        grpc::CreateChannel("unix:" + socket(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::GuardianStatus status;
    grpc::Status rpc = stub->GetStatus(&context, {}, &status);
    EXPECT_TRUE(rpc.ok()) << rpc.error_message();
    return status;
  }

  v1::ListWorkersResponse Workers() {
    auto stub = v1::Controller::NewStub(grpc::CreateChannel(
        "unix:" + dir_.File("d.pid.workers.sock"), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::ListWorkersResponse list;
    (void)stub->ListWorkers(&context, {}, &list);
    return list;
  }

  std::string Health(const std::string& service = "") {
    auto health = testing::HealthCheck(socket(), service);
    return health.ok() ? *health : std::string(health.status().message());
  }

  int CtlStatus() { return Ctl({"status", "--pid-file", options_.pid_filename}).exit_code; }

  std::string Stderr() { return ReadFileOrEmpty(options_.stderr_filename); }

  testing::TempDir dir_;
  testing::ProcessReaper reaper_;
  DaemonOptions options_;
  pid_t guardian_ = 0;
};

// --- Readiness ---------------------------------------------------------------

TEST_F(SupervisionTest, WaitReadyReturnsOnceTheEntryIsReady) {
  options_.ready_timeout = absl::Seconds(20);
  options_.wait_ready = true;
  options_.daemon_args.Set("delay_ms", 300);
  DaemonStartResult result = Start(Module() + ":ready_after");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error << Stderr();
  // Returned after NotifyReady: its mark may trail the call by a moment,
  // but the state says ready at once.
  const v1::GuardianStatus status = Status();
  EXPECT_EQ(status.state(), v1::GUARDIAN_STATE_RUNNING);
  EXPECT_TRUE(status.ready());
  EXPECT_TRUE(WaitFor([&] { return PidOfEvent(events(), "ready") != 0; }));
  EXPECT_EQ(Health(), "SERVING");
  EXPECT_EQ(Health("liveness"), "SERVING");
  EXPECT_EQ(CtlStatus(), 0);
}

TEST_F(SupervisionTest, StartingUntilReadyThenRunning) {
  options_.ready_timeout = absl::Seconds(30);
  options_.daemon_args.Set("gate", dir_.File("gate"));
  DaemonStartResult result = Start(Module() + ":ready_after");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
  ASSERT_TRUE(WaitFor([&] { return PidOfEvent(events(), "started") != 0; }));
  // Not ready yet: STARTING, health "" NOT_SERVING, liveness SERVING, exit 4.
  v1::GuardianStatus status = Status();
  EXPECT_EQ(status.state(), v1::GUARDIAN_STATE_STARTING);
  EXPECT_FALSE(status.ready());
  EXPECT_TRUE(status.executor_running());
  EXPECT_EQ(Health(), "NOT_SERVING");
  EXPECT_EQ(Health("liveness"), "SERVING");
  EXPECT_EQ(CtlStatus(), 4);
  // Then ready: RUNNING, SERVING, exit 0.
  std::ofstream(dir_.File("gate")) << "go\n";
  ASSERT_TRUE(WaitFor([&] { return Status().ready(); }, absl::Seconds(20))) << Stderr();
  EXPECT_EQ(Status().state(), v1::GUARDIAN_STATE_RUNNING);
  EXPECT_EQ(Health(), "SERVING");
  EXPECT_EQ(CtlStatus(), 0);
  // Stopped: exit 3.
  kill(guardian_, SIGTERM);
  ASSERT_TRUE(WaitForExit(guardian_, absl::Seconds(15)));
  EXPECT_EQ(CtlStatus(), 3);
}

TEST_F(SupervisionTest, NeverReadyIsKilledCountedAndRestarted) {
  options_.ready_timeout = absl::Milliseconds(400);
  options_.restart_interval = absl::Milliseconds(100);
  DaemonStartResult result = Start(Module() + ":never_ready");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
  ASSERT_TRUE(WaitFor([&] { return PidOfEvent(events(), "started", 1) != 0; }, absl::Seconds(20)))
      << Stderr();
  v1::GuardianStatus status;
  ASSERT_TRUE(WaitFor([&] {
    status = Status();
    return status.history_size() >= 1 && status.restart_count() >= 1;
  }));
  const v1::ProcessRun& run = status.history(0);
  EXPECT_EQ(run.error(), "not ready within 400ms");
  EXPECT_EQ(run.description(), "killed by signal 9 (SIGKILL)");
  EXPECT_EQ(run.pid(), PidOfEvent(events(), "started", 0));
  EXPECT_FALSE(ProcessAlive(run.pid()));
  // Between runs, or starting again: never ready, so never exit 0.
  EXPECT_NE(CtlStatus(), 0);
  EXPECT_EQ(Health(), "NOT_SERVING");
  const testing::CommandResult shown = Ctl({"status", "--pid-file", options_.pid_filename});
  EXPECT_NE(shown.out.find("not ready within 400ms"), std::string::npos) << shown.out;
}

TEST_F(SupervisionTest, WaitReadyFailsWithTheEntrysErrorAndLeavesNothing) {
  options_.ready_timeout = absl::Seconds(20);
  options_.wait_ready = true;
  options_.restart_interval = absl::Milliseconds(100);  // not used: the first run decides
  DaemonStartResult result = Start(Module() + ":fail_before_ready");
  EXPECT_EQ(result.status, DaemonRunStatus::kLaunchFailed);
  EXPECT_FALSE(result.pid.has_value());
  EXPECT_NE(result.error.find("failed before it was ready"), std::string::npos) << result.error;
  // The entry's own error when the run carries it (ProcessRun.error), else
  // how it ended.
  EXPECT_TRUE(result.error.find("database at 10.0.0.7 refused the connection") !=
                  std::string::npos ||
              result.error.find("exited with code 1") != std::string::npos)
      << result.error;
  EXPECT_EQ(PidOfEvent(events(), "started", 1), 0);  // never restarted
  EXPECT_FALSE(FileExists(options_.pid_filename));
  EXPECT_FALSE(FileExists(socket()));
  EXPECT_TRUE(WaitFor([&] { return ProcessesUsing(dir_.path()).empty(); }))
      << "left: " << ProcessesUsing(dir_.path()).size();
  EXPECT_EQ(CtlStatus(), 3);
}

TEST_F(SupervisionTest, OptionsOutOfRangeAreRefusedByName) {
  options_.ready_timeout = absl::ZeroDuration();
  DaemonStartResult result = Start(Module() + ":ready_after");
  EXPECT_EQ(result.status, DaemonRunStatus::kLaunchFailed);
  EXPECT_NE(result.error.find("DaemonOptions.ready_timeout"), std::string::npos) << result.error;
  options_.ready_timeout.reset();
  options_.watchdog_timeout = -absl::Seconds(1);
  result = Start(Module() + ":ready_after");
  EXPECT_EQ(result.status, DaemonRunStatus::kLaunchFailed);
  EXPECT_NE(result.error.find("DaemonOptions.watchdog_timeout"), std::string::npos) << result.error;
  EXPECT_FALSE(FileExists(options_.pid_filename));
}

// --- The watchdog --------------------------------------------------------------

TEST_F(SupervisionTest, AHungEntryIsKilledAndRestartedWhileASideThreadIsBusy) {
  options_.watchdog_timeout = absl::Milliseconds(300);
  options_.restart_interval = absl::Milliseconds(100);
  DaemonStartResult result = Start(Module() + ":hang_entry");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
  ASSERT_TRUE(WaitFor([&] { return PidOfEvent(events(), "hanging", 1) != 0; }, absl::Seconds(20)))
      << Stderr();
  v1::GuardianStatus status;
  ASSERT_TRUE(WaitFor([&] {
    status = Status();
    return status.history_size() >= 1;
  }));
  const v1::ProcessRun& run = status.history(0);
  EXPECT_EQ(run.error(), "watchdog: no heartbeat for 300ms");
  EXPECT_NE(run.description().find("SIGABRT"), std::string::npos) << run.description();
  EXPECT_GE(status.restart_count(), 1);
}

TEST_F(SupervisionTest, ABusyEntryThatBeatsIsNotKilled) {
  options_.watchdog_timeout = absl::Milliseconds(300);
  options_.restart_interval = absl::Milliseconds(100);
  options_.daemon_args.Set("busy_ms", 1500);
  DaemonStartResult result = Start(Module() + ":busy_beating");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
  ASSERT_TRUE(WaitFor([&] { return PidOfEvent(events(), "busy_done") != 0; }, absl::Seconds(20)))
      << Stderr();
  // And asleep in Sleep() (QuitRequested's loop) is alive too: a few
  // timeouts more.
  const absl::Time until = absl::Now() + absl::Seconds(1);
  WaitFor([&] { return absl::Now() > until; });
  const v1::GuardianStatus status = Status();
  EXPECT_EQ(status.history_size(), 0) << status.DebugString();
  EXPECT_EQ(status.restart_count(), 0);
  EXPECT_EQ(status.state(), v1::GUARDIAN_STATE_RUNNING);
  EXPECT_EQ(PidOfEvent(events(), "started", 1), 0);
}

// --- Workers -------------------------------------------------------------------

TEST_F(SupervisionTest, WorkersReadinessAndWatchdog) {
  Json pool = {{"restart_interval_ms", 100}, {"workers", Json::array()}};
  auto worker = [&](const std::string& name, const std::string& entry, Json extra) {
    Json w = {{"name", name},
              {"entry", Module() + ":" + entry},
              {"pid_filename", dir_.File(name + ".pid")},
              {"args", {{"events", dir_.File(name + ".events")}, {"busy_ms", 1500}}}};
    for (auto& [key, value] : extra.items()) w[key] = value;
    pool["workers"].push_back(w);
  };
  worker("hung", "hang_entry", {{"watchdog_timeout_ms", 300}});
  // Busy 1500 ms but beating: never killed. Its timeout stays below
  // busy_ms (a busy worker that did not beat would be), with room for a
  // loaded 2-core CI machine that stalls a process 200+ ms.
  worker("busy", "busy_beating", {{"watchdog_timeout_ms", 1000}});
  worker("late", "never_ready", {{"ready_timeout_ms", 400}});
  worker("ready", "ready_after", {{"ready_timeout_ms", 20000}});
  options_.daemon_args = *Args::FromJson(pool.dump());
  DaemonStartResult result = Start(PoolModule() + ":run_workers");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
  v1::ListWorkersResponse list;
  auto find = [&](const std::string& name) -> const v1::WorkerStatus* {
    for (const auto& w : list.workers()) {
      if (w.name() == name) return &w;
    }
    return nullptr;
  };
  ASSERT_TRUE(WaitFor(
      [&] {
        list = Workers();
        const auto* hung = find("hung");
        const auto* late = find("late");
        return hung && late && hung->history_size() >= 1 && late->history_size() >= 1 &&
               PidOfEvent(dir_.File("busy.events"), "busy_done") != 0;
      },
      absl::Seconds(30)))
      << list.DebugString() << Stderr();
  EXPECT_EQ(find("hung")->history(0).error(), "watchdog: no heartbeat for 300ms");
  EXPECT_NE(find("hung")->history(0).description().find("SIGABRT"), std::string::npos);
  EXPECT_EQ(find("late")->history(0).error(), "not ready within 400ms");
  EXPECT_EQ(find("busy")->history_size(), 0) << find("busy")->DebugString();
  EXPECT_EQ(find("busy")->state(), v1::WORKER_STATE_RUNNING);
  EXPECT_TRUE(find("busy")->ready());
  ASSERT_TRUE(WaitFor([&] {
    list = Workers();
    return find("ready") && find("ready")->ready();
  }));
  EXPECT_EQ(find("ready")->state(), v1::WORKER_STATE_RUNNING);
  const auto* late = find("late");
  EXPECT_FALSE(late->ready());
  EXPECT_NE(late->state(), v1::WORKER_STATE_RUNNING);
}

// --- Health Watch pushes --------------------------------------------------------

TEST_F(SupervisionTest, HealthWatchSeesNotServingThenServing) {
  options_.ready_timeout = absl::Seconds(30);
  options_.daemon_args.Set("gate", dir_.File("gate"));
  DaemonStartResult result = Start(Module() + ":ready_after");
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
  ASSERT_TRUE(WaitFor([&] { return PidOfEvent(events(), "started") != 0; }));
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel("unix:" + socket(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  grpc::health::v1::HealthCheckRequest request;
  auto reader = stub->Watch(&context, request);
  std::vector<int> seen;
  grpc::health::v1::HealthCheckResponse response;
  while (reader->Read(&response)) {
    seen.push_back(response.status());
    if (seen.size() == 1) std::ofstream(dir_.File("gate")) << "go\n";  // now be ready
    if (response.status() == grpc::health::v1::HealthCheckResponse::SERVING) break;
  }
  context.TryCancel();
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(seen.back(), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_NE(PidOfEvent(events(), "started"), 0);
}

}  // namespace
}  // namespace appkit
