// Integration tests of SPEC §8's restart policy, FATAL, Guardian.Restart,
// the run errors and the stop ordering: the real guardian, executor and
// workers, started through the public API in a private directory
// (client/testing.h's TestDaemon reaps everything, even on failure).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/match.h"
#include "client/appkit.h"
#include "client/testing.h"
#include "common/base/time_format.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::ReadFileOrEmpty;
using ::appkit::testing::TestDaemon;
using ::appkit::testing::WaitFor;
using Json = nlohmann::json;

std::string Module() { return ::appkit::testing::RunfilePath("testing/libtest_module.so"); }

absl::Time TimeOf(const google::protobuf::Timestamp& t) { return FromProtoTime(t); }

v1::GuardianStatus WaitForState(TestDaemon& daemon, v1::GuardianState state,
                                absl::Duration timeout = absl::Seconds(20)) {
  v1::GuardianStatus last;
  WaitFor(
      [&] {
        absl::StatusOr<v1::GuardianStatus> status = daemon.Status();
        if (status.ok()) last = *status;
        return status.ok() && status->state() == state;
      },
      timeout);
  EXPECT_EQ(last.state(), state) << last.DebugString();
  return last;
}

// backoff_multiplier 2 from 100 ms, capped at 400 ms: the gaps between an
// exit and the next start follow 100, 200, 400, 400 ms.
TEST(SupervisionPolicyTest, BackoffDelaysFollowTheFormula) {
  TestDaemon daemon;
  DaemonOptions options = daemon.Options(Module() + ":fail_fast");
  options.restart_interval = absl::Milliseconds(100);
  options.restart_policy.backoff_multiplier = 2;
  options.restart_policy.max_delay = absl::Milliseconds(400);
  ASSERT_TRUE(daemon.Start(options).ok());
  v1::GuardianStatus status;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto s = daemon.Status();
        if (s.ok()) status = *s;
        return s.ok() && status.history_size() >= 5;
      },
      absl::Seconds(20)));
  const absl::Duration expected[] = {absl::Milliseconds(100), absl::Milliseconds(200),
                                     absl::Milliseconds(400), absl::Milliseconds(400)};
  for (int i = 0; i < 4; ++i) {
    const absl::Duration gap =
        TimeOf(status.history(i + 1).start_time()) - TimeOf(status.history(i).end_time());
    EXPECT_GE(gap, expected[i] - absl::Milliseconds(5)) << i;
    EXPECT_LT(gap, expected[i] + absl::Milliseconds(400)) << i;  // a loaded machine
  }
  EXPECT_GE(status.consecutive_failures(), 1);
  // The entry's own error reached the status.
  EXPECT_EQ(status.history(0).error(), "INTERNAL: fail_fast always fails");
  ASSERT_TRUE(daemon.Stop().ok());
  EXPECT_TRUE(daemon.CheckNothingLeft().ok());
}

// jitter 0.5 around 200 ms: each delay is in [100, 300] ms (plus the
// fork's time on a loaded machine).
TEST(SupervisionPolicyTest, JitterVariesEachDelayWithinItsFraction) {
  TestDaemon daemon;
  DaemonOptions options = daemon.Options(Module() + ":fail_fast");
  options.restart_interval = absl::Milliseconds(200);
  options.restart_policy.jitter = 0.5;
  ASSERT_TRUE(daemon.Start(options).ok());
  v1::GuardianStatus status;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto s = daemon.Status();
        if (s.ok()) status = *s;
        return s.ok() && status.history_size() >= 5;
      },
      absl::Seconds(20)));
  for (int i = 0; i < 4; ++i) {
    const absl::Duration gap =
        TimeOf(status.history(i + 1).start_time()) - TimeOf(status.history(i).end_time());
    EXPECT_GE(gap, absl::Milliseconds(95)) << i;
    EXPECT_LT(gap, absl::Milliseconds(300 + 400)) << i;
  }
  ASSERT_TRUE(daemon.Stop().ok());
}

// Restarts further apart than `within` never add up to the limit.
TEST(SupervisionPolicyTest, RestartsOutsideTheWindowDoNotCount) {
  TestDaemon daemon;
  DaemonOptions options = daemon.Options(Module() + ":fail_fast");
  options.restart_interval = absl::Milliseconds(100);
  options.restart_policy.max_restarts = 1;
  options.restart_policy.within = absl::Milliseconds(50);
  ASSERT_TRUE(daemon.Start(options).ok());
  v1::GuardianStatus status;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto s = daemon.Status();
        if (s.ok()) status = *s;
        return s.ok() && status.restart_count() >= 3;
      },
      absl::Seconds(20)))
      << status.DebugString();
  EXPECT_NE(status.state(), v1::GUARDIAN_STATE_FATAL);
  ASSERT_TRUE(daemon.Stop().ok());
}

// A run of reset_after or longer starts the count over: with max_restarts
// 1, a daemon whose runs are all stable is never FATAL.
TEST(SupervisionPolicyTest, AStableRunResetsTheCount) {
  TestDaemon daemon;
  DaemonOptions options = daemon.Options(Module() + ":exit_after");
  options.daemon_args.Set("ms", int64_t{300});
  options.restart_interval = absl::Milliseconds(10);
  options.restart_policy.reset_after = absl::Milliseconds(200);
  options.restart_policy.max_restarts = 1;
  ASSERT_TRUE(daemon.Start(options).ok());
  v1::GuardianStatus status;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto s = daemon.Status();
        if (s.ok()) status = *s;
        return s.ok() && status.restart_count() >= 3;
      },
      absl::Seconds(20)))
      << status.DebugString();
  EXPECT_NE(status.state(), v1::GUARDIAN_STATE_FATAL);
  EXPECT_LE(status.consecutive_failures(), 1);
  ASSERT_TRUE(daemon.Stop().ok());
}

// More than max_restarts restarts within `within`: FATAL, the guardian
// stays up, nothing restarts; Restart leaves it.
TEST(SupervisionPolicyTest, TheCrashLoopLimitIsFatalAndRestartLeavesIt) {
  TestDaemon daemon;
  DaemonOptions options = daemon.Options(Module() + ":fail_fast");
  options.restart_interval = absl::Milliseconds(10);
  options.restart_policy.max_restarts = 2;
  ASSERT_TRUE(daemon.Start(options).ok());
  v1::GuardianStatus fatal = WaitForState(daemon, v1::GUARDIAN_STATE_FATAL);
  EXPECT_EQ(fatal.restart_count(), 2);
  EXPECT_EQ(fatal.consecutive_failures(), 3);
  EXPECT_FALSE(fatal.executor_running());
  EXPECT_EQ(fatal.history(fatal.history_size() - 1).error(), "INTERNAL: fail_fast always fails");
  EXPECT_TRUE(::appkit::testing::ProcessAlive(daemon.guardian_pid()));

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::GuardianRestartResponse response;
  grpc::Status rpc = daemon.Guardian()->Restart(&context, {}, &response);
  ASSERT_TRUE(rpc.ok()) << rpc.error_message();
  // It runs again (restart 3), fails again and, the count having started
  // over, is restarted twice more before the next FATAL.
  WaitFor([&] {
    auto s = daemon.Status();
    return s.ok() && s->restart_count() == 5 && s->state() == v1::GUARDIAN_STATE_FATAL;
  });
  EXPECT_EQ(daemon.Status()->restart_count(), 5);
  ASSERT_TRUE(daemon.Stop().ok());
  EXPECT_TRUE(daemon.CheckNothingLeft().ok());
}

TEST(SupervisionPolicyTest, ANoRestartExitCodeEndsTheDaemon) {
  TestDaemon daemon;
  DaemonOptions options = daemon.Options(Module() + ":exit_code");
  options.daemon_args.Set("code", int64_t{3});
  options.restart_interval = absl::Milliseconds(10);
  options.restart_policy.no_restart_exit_codes = {3};
  ASSERT_TRUE(daemon.Start(options).ok());
  EXPECT_TRUE(::appkit::testing::WaitForExit(daemon.guardian_pid(), absl::Seconds(20)));
  EXPECT_TRUE(absl::StrContains(ReadFileOrEmpty(daemon.Path("daemon.log")),
                                "exit code 3 is in no_restart_exit_codes"))
      << ReadFileOrEmpty(daemon.Path("daemon.log"));
  EXPECT_TRUE(daemon.CheckNothingLeft().ok());
}

TEST(SupervisionPolicyTest, BadPoliciesAreRefusedNamingTheField) {
  TestDaemon daemon;
  DaemonOptions options = daemon.Options(Module() + ":run_until_quit");
  options.restart_policy.jitter = 1.5;
  DaemonStartResult result = StartDaemon(options);
  EXPECT_EQ(result.status, DaemonRunStatus::kLaunchFailed);
  EXPECT_TRUE(absl::StrContains(result.error, "DaemonOptions.restart_policy.jitter 1.5"))
      << result.error;
  options.restart_policy.jitter = 0;
  options.restart_policy.max_restarts = -1;
  result = StartDaemon(options);
  EXPECT_TRUE(absl::StrContains(result.error, "DaemonOptions.restart_policy.max_restarts"))
      << result.error;
  EXPECT_FALSE(::appkit::testing::FileExists(options.pid_filename));

  WorkersOptions pool;
  pool.restart_policy.no_restart_exit_codes = {300};
  absl::Status status = StartWorkers({}, pool);
  EXPECT_TRUE(absl::StrContains(status.message(), "WorkersOptions.restart_policy"))
      << status.message();
}

// Guardian.Restart on a running daemon: the executor is stopped and a new
// one started by the same guardian.
TEST(SupervisionPolicyTest, RestartReplacesTheExecutor) {
  TestDaemon daemon;
  ASSERT_TRUE(daemon.Start(daemon.Options(Module() + ":run_until_quit")).ok());
  ASSERT_TRUE(daemon.WaitUntilRunning().ok());
  const int64_t first = daemon.Status()->executor().pid();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::GuardianRestartResponse response;
  ASSERT_TRUE(daemon.Guardian()->Restart(&context, {}, &response).ok());
  ASSERT_TRUE(WaitFor([&] {
    auto s = daemon.Status();
    return s.ok() && s->state() == v1::GUARDIAN_STATE_RUNNING && s->executor().pid() != first;
  }));
  v1::GuardianStatus status = *daemon.Status();
  EXPECT_EQ(status.restart_count(), 1);
  EXPECT_EQ(status.history(0).pid(), first);
  EXPECT_EQ(status.history(0).exitcode(), 0);
  ASSERT_TRUE(daemon.Stop().ok());
  EXPECT_TRUE(daemon.CheckNothingLeft().ok());
}

// SPEC §4: a running daemon is kAlreadyRunning whatever else changed.
TEST(SupervisionPolicyTest, ASecondStartIsAlreadyRunningWhateverTheOtherOptionsSay) {
  TestDaemon daemon;
  DaemonOptions options = daemon.Options(Module() + ":run_until_quit");
  ASSERT_TRUE(daemon.Start(options).ok());
  DaemonOptions again = options;
  again.daemon_entry = daemon.Path("deleted/libgone.so") + ":run_until_quit";
  again.stderr_filename = daemon.Path("no-such-dir/err.txt");
  again.logging_config->mutable_handlers(0)->mutable_file()->set_filename(
      daemon.Path("no-such-dir/daemon.log"));
  DaemonStartResult result = StartDaemon(again);
  EXPECT_EQ(result.status, DaemonRunStatus::kAlreadyRunning) << result.error;
  EXPECT_EQ(result.pid, daemon.guardian_pid());
  ASSERT_TRUE(daemon.Stop().ok());
}

// --- Pools -----------------------------------------------------------------

Json Worker(const TestDaemon& daemon, const std::string& name, const std::string& function) {
  return Json{{"name", name},
              {"entry", Module() + ":" + function},
              {"pid_filename", daemon.Path(name + ".pid")},
              {"args", Json{{"events", daemon.Path(name + ".events")}}}};
}

DaemonOptions PoolOptions(const TestDaemon& daemon, const Json& pool) {
  DaemonOptions options = daemon.Options(Module() + ":run_workers");
  options.daemon_args = *Args::FromJson(pool.dump());
  return options;
}

// A worker that cannot start (its pid file held) says why in the pool's
// log and in its run's error; with max_restarts it goes FATAL, and shows
// so in ListWorkers and the debug file (with the "error" key).
TEST(SupervisionPolicyTest, AWorkerThatCannotStartSaysWhyAndGoesFatal) {
  TestDaemon daemon;
  // The pid file is held (locked) by a live process: this test.
  const std::string held = daemon.Path("held.pid");
  const int lock_fd = open(held.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(lock_fd, 0);
  const std::string pid_line = std::to_string(getpid()) + "\n";
  ASSERT_EQ(write(lock_fd, pid_line.data(), pid_line.size()),
            static_cast<ssize_t>(pid_line.size()));
  struct flock lock = {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  ASSERT_EQ(fcntl(lock_fd, F_SETLK, &lock), 0);
  Json pool = {{"workers", Json::array({Worker(daemon, "held", "run_until_quit")})},
               {"restart_interval_ms", 10},
               {"max_restarts", 2},
               {"check_interval_ms", 3600 * 1000},
               {"debug_filename", daemon.Path("debug.json")},
               {"events", daemon.Path("pool.events")}};
  ASSERT_TRUE(daemon.Start(PoolOptions(daemon, pool)).ok());
  v1::WorkerStatus worker;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto list = daemon.Workers();
        if (!list.ok() || list->workers_size() != 1) return false;
        worker = list->workers(0);
        return worker.state() == v1::WORKER_STATE_FATAL;
      },
      absl::Seconds(20)))
      << worker.DebugString();
  ASSERT_GE(worker.history_size(), 1);
  EXPECT_TRUE(absl::StrContains(worker.history(0).error(), "cannot start: pid file " + held))
      << worker.history(0).error();
  EXPECT_EQ(worker.consecutive_failures(), 3);
  const std::string log = ReadFileOrEmpty(daemon.Path("daemon.log"));
  EXPECT_TRUE(absl::StrContains(log, "cannot start: pid file")) << log;
  ASSERT_TRUE(WaitFor(
      [&] { return absl::StrContains(ReadFileOrEmpty(daemon.Path("debug.json")), "\"error\""); }));
  Json debug = Json::parse(ReadFileOrEmpty(daemon.Path("debug.json")));
  Json first = debug["worker_info_list"][0]["history"][0];
  EXPECT_TRUE(absl::StrContains(first["error"].get<std::string>(), "cannot start: pid file"));
  for (const char* key : {"pid", "exitcode", "start_time", "end_time"}) {
    EXPECT_TRUE(first.contains(key)) << key;
  }
  close(lock_fd);
  unlink(held.c_str());
  ASSERT_TRUE(daemon.Stop().ok());
  EXPECT_TRUE(daemon.CheckNothingLeft().ok());
}

// SPEC §8: the guardian's stop budget covers the pool's. Default stop
// timeouts (10 s both): a worker that ignores quit is killed by the pool
// (its run says "stop timeout") and the final debug file is written.
TEST(SupervisionPolicyTest, WithDefaultTimeoutsThePoolKillsAWorkerThatIgnoresQuit) {
  TestDaemon daemon;
  Json pool = {{"workers", Json::array({Worker(daemon, "stubborn", "ignore_quit")})},
               {"restart_interval_ms", 10},
               {"stop_timeout_ms", 10000},
               {"check_interval_ms", 3600 * 1000},
               {"debug_filename", daemon.Path("debug.json")},
               {"events", daemon.Path("pool.events")}};
  DaemonOptions options = PoolOptions(daemon, pool);
  options.stop_timeout = absl::Seconds(10);  // the default
  ASSERT_TRUE(daemon.Start(options).ok());
  ASSERT_TRUE(daemon.WaitForWorkers(1).ok());
  ASSERT_TRUE(WaitFor([&] {
    return !::appkit::testing::LinesWithPrefix(daemon.Path("stubborn.events"), "started").empty();
  }));
  ASSERT_TRUE(daemon.Stop(absl::Seconds(40)).ok());
  const std::string log = ReadFileOrEmpty(daemon.Path("daemon.log"));
  EXPECT_TRUE(absl::StrContains(log, "stop timeout: worker stubborn")) << log;
  EXPECT_FALSE(absl::StrContains(log, "stop timeout: executor")) << log;
  EXPECT_TRUE(absl::StrContains(ReadFileOrEmpty(daemon.Path("pool.events")), "pool_returned"));
  Json debug = Json::parse(ReadFileOrEmpty(daemon.Path("debug.json")));
  Json history = debug["worker_info_list"][0]["history"];
  ASSERT_EQ(history.size(), 1u) << debug.dump();
  EXPECT_EQ(history[0]["exitcode"], -9);
  EXPECT_EQ(history[0]["error"], "stop timeout");
  EXPECT_TRUE(daemon.CheckNothingLeft().ok());
}

}  // namespace
}  // namespace appkit
