// sd_notify for every supervised process (SPEC §10), end to end: a program
// that is not appkit's (testing/notify_program.c) speaks the protocol by
// hand on the NOTIFY_SOCKET it was given, and the real guardian and pool
// turn READY=1 into readiness, WATCHDOG=1 into heartbeats, STATUS= into
// status and STOPPING=1 into an event; a sender outside the supervised
// tree is ignored.
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/appkit.h"
#include "client/testing.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"
#include "testing/watch_client.h"

namespace appkit {
namespace {

using ::appkit::testing::LinesWithPrefix;
using ::appkit::testing::ReadFileOrEmpty;
using ::appkit::testing::TestDaemon;
using ::appkit::testing::WaitFor;
using ::google::protobuf::util::TimeUtil;

std::string Program() { return testing::RunfilePath("testing/notify_program"); }

DaemonOptions CommandOptions(const TestDaemon& daemon, std::vector<std::string> args) {
  DaemonOptions options = daemon.Options("");
  options.daemon_entry.clear();
  options.command = {Program(), "--record", daemon.Path("record.txt")};
  options.command.insert(options.command.end(), args.begin(), args.end());
  return options;
}

// NOTIFY_SOCKET as `pid` sees it ("" when unset).
std::string NotifySocketOf(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/environ"));
  std::string environ((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (absl::string_view var : absl::StrSplit(environ, '\0')) {
    if (absl::ConsumePrefix(&var, "NOTIFY_SOCKET=")) return std::string(var);
  }
  return "";
}

void SendNotify(const std::string& address, const std::string& state) {
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, address.data(), address.size());
  if (address[0] == '@') addr.sun_path[0] = '\0';
  const socklen_t size = offsetof(sockaddr_un, sun_path) + address.size();
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(sendto(fd, state.data(), state.size(), 0, reinterpret_cast<sockaddr*>(&addr), size),
            static_cast<ssize_t>(state.size()));
  close(fd);
}

absl::StatusOr<v1::GuardianStatus> WaitForStatus(
    TestDaemon& daemon, const std::function<bool(const v1::GuardianStatus&)>& condition) {
  absl::StatusOr<v1::GuardianStatus> status;
  WaitFor([&] {
    status = daemon.Status();
    return status.ok() && condition(*status);
  });
  return status;
}

TEST(NotifyDaemonTest, ReadyAndStatusFromAProgramThatSpeaksSdNotify) {
  TestDaemon daemon;
  DaemonOptions options =
      CommandOptions(daemon, {"--status", "warming up", "--ready-after-ms", "200", "--stopping"});
  options.ready_timeout = absl::Seconds(30);
  ASSERT_TRUE(daemon.Start(options).ok());
  auto status = WaitForStatus(daemon, [](const v1::GuardianStatus& s) {
    return s.state() == v1::GUARDIAN_STATE_RUNNING && s.ready();
  });
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->state(), v1::GUARDIAN_STATE_RUNNING) << status->DebugString();
  EXPECT_TRUE(status->ready());
  EXPECT_EQ(status->notify_status(), "warming up");
  ASSERT_TRUE(daemon.Stop().ok());
  // STOPPING=1, sent from its SIGTERM handler, is in the daemon's log.
  EXPECT_NE(ReadFileOrEmpty(daemon.Path("daemon.log")).find("says it is stopping (STOPPING=1)"),
            std::string::npos)
      << ReadFileOrEmpty(daemon.Path("daemon.log"));
  EXPECT_TRUE(daemon.CheckNothingLeft().ok());
}

// STATUS= and STOPPING=1 are events of Guardian.Watch (SPEC §9).
TEST(NotifyDaemonTest, StatusAndStoppingAreWatchEvents) {
  TestDaemon daemon;
  DaemonOptions options = CommandOptions(daemon, {"--stopping"});
  ASSERT_TRUE(daemon.Start(options).ok());
  ASSERT_TRUE(daemon.WaitUntilRunning().ok());
  std::shared_ptr<v1::Guardian::Stub> stub = daemon.Guardian();
  testing::WatchClient<v1::GuardianEvent> watch(
      [stub](grpc::ClientContext* context) { return stub->Watch(context, v1::WatchRequest()); });
  ASSERT_TRUE(watch.WaitForSnapshot(absl::Seconds(20)));
  const pid_t program = daemon.Status()->executor().pid();
  ASSERT_EQ(kill(program, SIGTERM), 0);  // its handler says STOPPING=1, STATUS=stopping
  auto has = [](const std::vector<v1::Event>& events, v1::EventKind kind) {
    for (const v1::Event& event : events) {
      if (event.kind() == kind) return true;
    }
    return false;
  };
  ASSERT_TRUE(watch.WaitFor(
      [&](const std::vector<v1::Event>& events) {
        return has(events, v1::EVENT_KIND_STATUS) && has(events, v1::EVENT_KIND_STOPPING);
      },
      absl::Seconds(20)));
  for (const v1::Event& event : watch.events()) {
    if (event.kind() == v1::EVENT_KIND_STATUS) {
      EXPECT_EQ(event.description(), "stopping");
      EXPECT_EQ(event.pid(), program);
      EXPECT_EQ(event.subject(), "executor");
    }
  }
  // Its exit 0 (after SIGTERM) ends the daemon, as an entry's would.
  EXPECT_TRUE(testing::WaitForExit(daemon.guardian_pid(), absl::Seconds(20)));
  EXPECT_TRUE(daemon.CheckNothingLeft().ok());
}

TEST(NotifyDaemonTest, ADescendantMayNotifyAStrangerMayNot) {
  TestDaemon daemon;
  DaemonOptions options = CommandOptions(daemon, {});
  options.ready_timeout = absl::Seconds(60);
  ASSERT_TRUE(daemon.Start(options).ok());
  ASSERT_TRUE(
      WaitFor([&] { return !LinesWithPrefix(daemon.Path("record.txt"), "started").empty(); }));
  auto status = daemon.Status();
  ASSERT_TRUE(status.ok());
  const pid_t program = status->executor().pid();
  const std::string address = NotifySocketOf(program);
  ASSERT_EQ(address.rfind("@appkit-notify-", 0), 0u) << address;
  // This test is no part of the daemon's tree: its READY=1 is refused.
  SendNotify(address, "READY=1");
  ASSERT_TRUE(WaitFor([&] {
    return ReadFileOrEmpty(daemon.Path("daemon.log"))
               .find(absl::StrCat("sd_notify from pid ", getpid(), " ignored")) !=
           std::string::npos;
  })) << ReadFileOrEmpty(daemon.Path("daemon.log"));
  status = daemon.Status();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state(), v1::GUARDIAN_STATE_STARTING);
  EXPECT_FALSE(status->ready());
  ASSERT_TRUE(daemon.Stop().ok());
  EXPECT_TRUE(daemon.CheckNothingLeft().ok());
}

TEST(NotifyDaemonTest, ReadyFromAChildOfTheProgramCounts) {
  TestDaemon daemon;
  DaemonOptions options = CommandOptions(daemon, {"--from-child", "--ready-after-ms", "0"});
  options.ready_timeout = absl::Seconds(30);
  ASSERT_TRUE(daemon.Start(options).ok());
  auto status = WaitForStatus(daemon, [](const v1::GuardianStatus& s) { return s.ready(); });
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(status->ready()) << status->DebugString();
  ASSERT_TRUE(daemon.Stop().ok());
  EXPECT_TRUE(daemon.CheckNothingLeft().ok());
}

// WATCHDOG=1 keeps a program alive past its watchdog_timeout; once it
// stops beating it is killed and restarted with the watchdog's error.
TEST(NotifyDaemonTest, WatchdogBeatsKeepTheProgramAliveUntilTheyStop) {
  TestDaemon daemon;
  DaemonOptions options = CommandOptions(daemon, {"--watchdog-ms", "100", "--beats", "25"});
  options.watchdog_timeout = absl::Seconds(1);
  options.restart_interval = absl::Seconds(60);
  ASSERT_TRUE(daemon.Start(options).ok());
  auto status =
      WaitForStatus(daemon, [](const v1::GuardianStatus& s) { return s.history_size() >= 1; });
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_GE(status->history_size(), 1) << status->DebugString();
  const v1::ProcessRun& run = status->history(0);
  EXPECT_NE(run.error().find("watchdog: no heartbeat for 1s"), std::string::npos)
      << run.DebugString();
  // 25 beats, 100 ms apart: alive well past one watchdog_timeout.
  EXPECT_GT(TimeUtil::DurationToMilliseconds(run.end_time() - run.start_time()), 1500)
      << run.DebugString();
  ASSERT_TRUE(daemon.Stop().ok());
  EXPECT_TRUE(daemon.CheckNothingLeft().ok());
}

// A pool of command workers: READY=1 and STATUS= per worker.
TEST(NotifyWorkersTest, EachWorkerProgramIsReadyOnItsOwnWord) {
  TestDaemon daemon;
  std::string workers = "[";
  for (int i = 1; i <= 2; ++i) {
    const std::string name = absl::StrCat("w", i);
    absl::StrAppend(
        &workers, i > 1 ? "," : "", R"({"name": ")", name, R"(", "command": [")", Program(),
        R"(", "--record", ")", daemon.Path(name + ".record"), R"(", "--status", "status of )", name,
        R"(", "--ready-after-ms", "100"], "ready_timeout_ms": 30000, "pid_filename": ")",
        daemon.Path(name + ".pid"), R"("})");
  }
  workers += "]";
  DaemonOptions options =
      daemon.Options(testing::RunfilePath("testing/libtest_module.so") + ":run_workers");
  auto args = Args::FromJson(absl::StrCat(R"({"workers": )", workers, "}"));
  ASSERT_TRUE(args.ok()) << args.status();
  options.daemon_args = *args;
  ASSERT_TRUE(daemon.Start(options).ok());
  absl::StatusOr<v1::ListWorkersResponse> listed;
  ASSERT_TRUE(WaitFor([&] {
    listed = daemon.Workers();
    if (!listed.ok() || listed->workers_size() != 2) return false;
    for (const v1::WorkerStatus& w : listed->workers()) {
      if (!w.ready() || w.notify_status().empty()) return false;
    }
    return true;
  })) << (listed.ok() ? listed->DebugString() : listed.status().ToString());
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(listed->workers(i).state(), v1::WORKER_STATE_RUNNING);
    EXPECT_EQ(listed->workers(i).notify_status(), absl::StrCat("status of w", i + 1));
  }
  ASSERT_TRUE(daemon.Stop().ok());
  EXPECT_TRUE(daemon.CheckNothingLeft().ok());
}

}  // namespace
}  // namespace appkit
