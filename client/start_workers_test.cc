// Integration tests of StartWorkers: a real daemon (guardian, executor)
// whose entry runs a worker pool of real worker processes, in a private
// temp dir. Every pid a test sees is tracked and killed if it survives.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "absl/strings/str_cat.h"
#include "client/appkit.h"
#include "common/host/host.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "proto/controller.grpc.pb.h"
#include "proto/guardian.grpc.pb.h"
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

std::string Module() { return testing::RunfilePath("testing/libtest_module.so"); }

std::chrono::system_clock::time_point Deadline() {
  return std::chrono::system_clock::now() + std::chrono::seconds(5);
}

class StartWorkersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.pid_filename = dir_.File("d.pid");
    options_.stderr_filename = dir_.File("daemon.err");
    auto logging =
        LoggingConfigFromJson(R"({"level": "DEBUG", "handlers": [{"file": {"filename": ")" +
                              dir_.File("daemon.log") + R"("}}]})");
    options_.logging_config = *logging;
    pool_["events"] = dir_.File("pool.events");
    pool_["workers"] = Json::array();
    pool_["check_interval_ms"] = 3600 * 1000;  // an hour: exits must not wait for it
  }

  void TearDown() override {
    if (guardian_ > 0 && ProcessAlive(guardian_)) {
      kill(guardian_, SIGTERM);
      WaitForExit(guardian_, absl::Seconds(15));
    }
  }

  std::string Events(const std::string& worker) const { return dir_.File(worker + ".events"); }
  std::string PidFile(const std::string& worker) const { return dir_.File(worker + ".pid"); }
  std::string Socket() const { return dir_.File("d.pid.workers.sock"); }

  Json& AddWorker(const std::string& name, const std::string& function,
                  Json args = Json::object()) {
    args["events"] = Events(name);
    pool_["workers"].push_back({{"name", name},
                                {"entry", Module() + ":" + function},
                                {"pid_filename", PidFile(name)},
                                {"args", args}});
    return pool_["workers"].back();
  }

  void StartPool(const std::string& entry = "run_workers") {
    auto args = Args::FromJson(pool_.dump());
    ASSERT_TRUE(args.ok()) << args.status();
    options_.daemon_args = *args;
    options_.daemon_entry = Module() + ":" + entry;
    DaemonStartResult result = StartDaemon(options_);
    ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
    guardian_ = *result.pid;
    reaper_.Track(guardian_);
    ASSERT_TRUE(WaitFor([&] {
      return (executor_ = PidOfEvent(pool_["events"], "pool_starting")) != 0;
    })) << ReadFileOrEmpty(dir_.File("daemon.log"));
    reaper_.Track(executor_);
  }

  // The pid of the nth process of `worker` that marked "started".
  pid_t WaitStarted(const std::string& worker, int nth = 0) {
    pid_t pid = 0;
    WaitFor([&] { return (pid = PidOfEvent(Events(worker), "started", nth)) != 0; });
    if (pid != 0) reaper_.Track(pid);
    return pid;
  }

  std::unique_ptr<v1::Controller::Stub> Controller() {
    return v1::Controller::NewStub(
        grpc::CreateChannel("unix:" + Socket(), grpc::InsecureChannelCredentials()));
  }

  v1::ListWorkersResponse List() {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    v1::ListWorkersResponse response;
    grpc::Status status = Controller()->ListWorkers(&context, {}, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  grpc::Status QuitWorker(const std::string& name) {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    v1::ControllerRequestQuitRequest request;
    request.set_worker_name(name);
    v1::ControllerRequestQuitResponse response;
    return Controller()->RequestQuit(&context, request, &response);
  }

  v1::WorkerState StateOf(const std::string& name) {
    v1::ListWorkersResponse list = List();
    for (const auto& worker : list.workers()) {
      if (worker.name() == name) return worker.state();
    }
    return v1::WORKER_STATE_UNSPECIFIED;
  }

  Json DebugFile() {
    std::string text = ReadFileOrEmpty(dir_.File("debug.json"));
    return text.empty() ? Json() : Json::parse(text);
  }

  std::string Log() const { return ReadFileOrEmpty(dir_.File("daemon.log")); }

  testing::TempDir dir_;
  testing::ProcessReaper reaper_;
  DaemonOptions options_;
  Json pool_;
  pid_t guardian_ = 0;
  pid_t executor_ = 0;
};

TEST_F(StartWorkersTest, PidFilesExistWhileRunningAndVanishAfter) {
  AddWorker("w1", "run_until_quit");
  AddWorker("w2", "run_until_quit");
  StartPool();
  pid_t w1 = WaitStarted("w1");
  pid_t w2 = WaitStarted("w2");
  ASSERT_GT(w1, 0) << Log();
  ASSERT_GT(w2, 0);
  EXPECT_EQ(ReadFileOrEmpty(PidFile("w1")), std::to_string(w1) + "\n");
  EXPECT_EQ(ReadFileOrEmpty(PidFile("w2")), std::to_string(w2) + "\n");
  // Children of the controller (the executor), each in its own group.
  EXPECT_EQ(testing::ParentOf(w1), executor_);
  EXPECT_EQ(getpgid(w1), w1);

  kill(guardian_, SIGTERM);
  ASSERT_TRUE(WaitForExit(guardian_, absl::Seconds(15)));
  EXPECT_FALSE(ProcessAlive(w1));
  EXPECT_FALSE(ProcessAlive(w2));
  EXPECT_FALSE(FileExists(PidFile("w1")));
  EXPECT_FALSE(FileExists(PidFile("w2")));
  EXPECT_FALSE(FileExists(Socket()));
  EXPECT_NE(PidOfEvent(Events("w1"), "quit"), 0);
  EXPECT_NE(PidOfEvent(pool_["events"], "pool_returned"), 0) << Log();
}

// Issue 17: the executor starts the worker fork server before the
// entry's module loads; the pool takes it.
TEST_F(StartWorkersTest, ThePoolTakesTheWorkerForkServerTheExecutorPrestarted) {
  AddWorker("w1", "record_env", {{"name", "APPKIT_PRESTART_TEST"}});
  StartPool();
  ASSERT_GT(WaitStarted("w1"), 0) << Log();
  EXPECT_NE(Log().find("(prestarted by the executor)"), std::string::npos) << Log();
  EXPECT_NE(PidOfEvent(Events("w1"), "env=-"), 0);
}

// ... unless the pool is large: its workers come from the worker binary
// (a fork of a fork of a fork forks and exits slower).
TEST_F(StartWorkersTest, ALargePoolStartsTheWorkerBinaryInstead) {
  for (int i = 0; i < 17; ++i) AddWorker("w" + std::to_string(i), "run_until_quit");
  StartPool();
  for (int i = 0; i < 17; ++i) ASSERT_GT(WaitStarted("w" + std::to_string(i)), 0) << Log();
  EXPECT_EQ(Log().find("(prestarted by the executor)"), std::string::npos) << Log();
}

// ... unless the entry changed what a new server would inherit: then its
// workers see the change, as without a prestarted server.
TEST_F(StartWorkersTest, AnEntryThatSetsAVariableFirstGetsAFreshWorkerForkServer) {
  AddWorker("w1", "record_env", {{"name", "APPKIT_PRESTART_TEST"}});
  pool_["set_env"] = "APPKIT_PRESTART_TEST=set by the entry";
  StartPool("set_env_then_workers");
  ASSERT_GT(WaitStarted("w1"), 0) << Log();
  EXPECT_NE(PidOfEvent(Events("w1"), "env=set by the entry"), 0) << ReadFileOrEmpty(Events("w1"));
  EXPECT_EQ(Log().find("(prestarted by the executor)"), std::string::npos) << Log();
}

// A daemon whose entry starts no pool: its prestarted server is retired
// (kPrestartStandby, 3 s) and says nothing; the executor has no child left.
TEST_F(StartWorkersTest, AnUnusedPrestartedServerIsRetiredSilently) {
  options_.daemon_entry = Module() + ":run_until_quit";
  auto args = Args::FromJson(R"({"events": ")" + dir_.File("entry.events") + R"("})");
  options_.daemon_args = *args;
  DaemonStartResult result = StartDaemon(options_);
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
  guardian_ = *result.pid;
  reaper_.Track(guardian_);
  ASSERT_TRUE(
      WaitFor([&] { return (executor_ = PidOfEvent(dir_.File("entry.events"), "started")) != 0; }));
  auto children = [&] {
    std::string text =
        ReadFileOrEmpty(absl::StrCat("/proc/", executor_, "/task/", executor_, "/children"));
    return text;
  };
  EXPECT_NE(children(), "") << "no prestarted worker fork server";
  EXPECT_TRUE(WaitFor([&] { return children().empty(); }, absl::Seconds(15))) << children();
  kill(guardian_, SIGTERM);
  ASSERT_TRUE(WaitForExit(guardian_, absl::Seconds(15)));
  EXPECT_EQ(ReadFileOrEmpty(dir_.File("daemon.err")).find("worker fork server"), std::string::npos)
      << ReadFileOrEmpty(dir_.File("daemon.err"));
}

TEST_F(StartWorkersTest, RedirectsOutputAndConfiguresLoggingPerWorker) {
  Json& worker = AddWorker("w1", "chatty_worker");
  worker["stdout_filename"] = dir_.File("w1.out");
  worker["stderr_filename"] = dir_.File("w1.err");
  worker["logging_json"] =
      R"({"handlers": [{"file": {"filename": ")" + dir_.File("w1.log") + R"("}}]})";
  Json& shared = AddWorker("w2", "chatty_worker");
  shared["stdout_filename"] = dir_.File("w2.both");
  shared["stderr_filename"] = dir_.File("w2.both");
  StartPool();
  EXPECT_TRUE(WaitFor([&] {
    return ReadFileOrEmpty(dir_.File("w1.out")).find("worker stdout line") != std::string::npos &&
           ReadFileOrEmpty(dir_.File("w1.err")).find("worker stderr line") != std::string::npos &&
           ReadFileOrEmpty(dir_.File("w1.log")).find("worker module line") != std::string::npos;
  })) << Log();
  EXPECT_EQ(ReadFileOrEmpty(dir_.File("w1.out")).find("stderr"), std::string::npos);
  EXPECT_NE(ReadFileOrEmpty(dir_.File("w1.log")).find("[worker:w1]"), std::string::npos);
  EXPECT_TRUE(WaitFor([&] {
    std::string both = ReadFileOrEmpty(dir_.File("w2.both"));
    return both.find("worker stdout line") != std::string::npos &&
           both.find("worker stderr line") != std::string::npos;
  }));
  // w2 has no logging config: its info line goes nowhere.
  EXPECT_EQ(ReadFileOrEmpty(dir_.File("w1.log")).find("[worker:w2]"), std::string::npos);
}

TEST_F(StartWorkersTest, ArgsReachTheEntry) {
  AddWorker("w1", "check_args", Json{{"foo", 42}, {"name", "appkit"}});
  StartPool();
  EXPECT_TRUE(WaitFor([&] {
    return ReadFileOrEmpty(Events("w1")).find("args foo=42 name=appkit") != std::string::npos;
  })) << Log();
}

struct ExitCase {
  const char* label;
  int exit_code;  // via the exit_code entry; -9: SIGKILL from the test
  int exitcode;   // expected in the history
};

class WorkerRestartTest : public StartWorkersTest,
                          public ::testing::WithParamInterface<ExitCase> {};

TEST_P(WorkerRestartTest, ExitedWorkerRestartsAfterTheIntervalWithHistory) {
  const ExitCase& exit_case = GetParam();
  pool_["restart_interval_ms"] = 300;
  pool_["debug_filename"] = dir_.File("debug.json");
  if (exit_case.exit_code < 0) {
    AddWorker("w1", "run_until_quit");
  } else {
    AddWorker("w1", "exit_code", Json{{"code", exit_case.exit_code}});
  }
  StartPool();
  pid_t first = WaitStarted("w1");
  ASSERT_GT(first, 0) << Log();
  absl::Time killed = absl::Now();
  if (exit_case.exit_code < 0) {
    ASSERT_TRUE(WaitFor([&] { return FileExists(PidFile("w1")); }));
    kill(first, SIGKILL);
  }
  pid_t second = WaitStarted("w1", 1);
  ASSERT_GT(second, 0) << Log();
  EXPECT_NE(second, first);
  // check_interval is an hour: the exit was seen at once, and the restart
  // honoured the 300 ms interval.
  EXPECT_GE(absl::Now() - killed, absl::Milliseconds(300));
  EXPECT_LT(absl::Now() - killed, absl::Seconds(3));

  Json run;
  ASSERT_TRUE(WaitFor([&] {
    Json debug = DebugFile();
    if (debug.is_null() || debug["worker_info_list"][0]["history"].empty()) return false;
    run = debug["worker_info_list"][0]["history"][0];
    return true;
  }));
  EXPECT_EQ(run["pid"], first);
  EXPECT_EQ(run["exitcode"], exit_case.exitcode);
  EXPECT_TRUE(run["start_time"].is_string());
  EXPECT_TRUE(run["end_time"].is_string());
  EXPECT_LE(run["start_time"].get<std::string>(), run["end_time"].get<std::string>());
  if (exit_case.exit_code < 0) {
    EXPECT_NE(Log().find("killed by signal 9"), std::string::npos) << Log();
    EXPECT_NE(Log().find("restart in 300ms"), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(Exits, WorkerRestartTest,
                         ::testing::Values(ExitCase{"code0", 0, 0}, ExitCase{"code1", 1, 1},
                                           ExitCase{"sigkill", -9, -9}),
                         [](const auto& info) { return std::string(info.param.label); });

TEST_F(StartWorkersTest, NoRestartWithoutRestartInterval) {
  pool_["debug_filename"] = dir_.File("debug.json");
  AddWorker("w1", "exit_code", Json{{"code", 3}});
  AddWorker("w2", "run_until_quit");
  StartPool();
  pid_t first = WaitStarted("w1");
  ASSERT_GT(first, 0);
  ASSERT_TRUE(WaitForExit(first));
  ASSERT_TRUE(WaitFor([&] { return StateOf("w1") == v1::WORKER_STATE_EXITED; })) << Log();
  Json debug = DebugFile();
  ASSERT_TRUE(WaitFor([&] {
    debug = DebugFile();
    return !debug.is_null() && debug["worker_info_list"][0]["history"].size() == 1;
  }));
  EXPECT_TRUE(debug["worker_info_list"][0]["pid"].is_null());
  EXPECT_TRUE(debug["worker_info_list"][0]["start_after"].is_null());
  EXPECT_EQ(debug["worker_info_list"][0]["history"][0]["exitcode"], 3);
  EXPECT_NE(Log().find("not restarted"), std::string::npos);
  // The pool goes on with the others.
  EXPECT_EQ(StateOf("w2"), v1::WORKER_STATE_RUNNING);
}

TEST_F(StartWorkersTest, SigtermToAWorkerMakesQuitRequestedTrueThere) {
  pool_["restart_interval_ms"] = 0;
  AddWorker("w1", "run_until_quit");
  StartPool();
  pid_t first = WaitStarted("w1");
  ASSERT_GT(first, 0);
  kill(first, SIGTERM);
  EXPECT_TRUE(WaitFor([&] { return PidOfEvent(Events("w1"), "quit") == first; }));
  EXPECT_GT(WaitStarted("w1", 1), 0);  // and it is restarted like any exit
}

TEST_F(StartWorkersTest, SigtermToTheExecutorStopsEveryWorker) {
  AddWorker("w1", "run_until_quit");
  AddWorker("w2", "sleep_long");
  StartPool();
  pid_t w1 = WaitStarted("w1");
  pid_t w2 = WaitStarted("w2");
  ASSERT_GT(w1, 0);
  ASSERT_GT(w2, 0);
  kill(executor_, SIGTERM);
  EXPECT_TRUE(WaitFor([&] { return PidOfEvent(pool_["events"], "pool_returned") != 0; })) << Log();
  EXPECT_TRUE(WaitForExit(w1));
  EXPECT_TRUE(WaitForExit(w2));
  EXPECT_TRUE(WaitForExit(guardian_));
  EXPECT_FALSE(FileExists(PidFile("w1")));
  EXPECT_FALSE(FileExists(PidFile("w2")));
}

TEST_F(StartWorkersTest, WorkerIgnoringQuitIsKilledAfterStopTimeout) {
  pool_["stop_timeout_ms"] = 300;
  AddWorker("w1", "ignore_quit");
  StartPool();
  pid_t w1 = WaitStarted("w1");
  ASSERT_GT(w1, 0);
  ASSERT_TRUE(WaitFor([&] { return FileExists(PidFile("w1")); }));
  absl::Time asked = absl::Now();
  kill(guardian_, SIGTERM);
  ASSERT_TRUE(WaitForExit(w1));
  EXPECT_GE(absl::Now() - asked, absl::Milliseconds(300));
  EXPECT_TRUE(WaitForExit(guardian_));
  EXPECT_NE(Log().find("stop timeout: worker w1"), std::string::npos) << Log();
  EXPECT_FALSE(FileExists(PidFile("w1")));  // removed by the controller
}

TEST_F(StartWorkersTest, SigkillToTheExecutorLeavesNoWorkerAlive) {
  pool_["restart_interval_ms"] = 100;
  AddWorker("w1", "run_until_quit");
  AddWorker("w2", "ignore_quit");
  StartPool();
  pid_t w1 = WaitStarted("w1");
  pid_t w2 = WaitStarted("w2");
  ASSERT_GT(w1, 0);
  ASSERT_GT(w2, 0);
  ASSERT_TRUE(WaitFor([&] { return FileExists(PidFile("w1")) && FileExists(PidFile("w2")); }));
  kill(executor_, SIGKILL);
  EXPECT_TRUE(WaitForExit(w1, absl::Seconds(1)));
  EXPECT_TRUE(WaitForExit(w2, absl::Seconds(1)));
  // The worker fork server outlives the controller long enough to remove
  // the pid files the killed workers could not.
  EXPECT_TRUE(WaitFor([&] { return !FileExists(PidFile("w1")) && !FileExists(PidFile("w2")); },
                      absl::Seconds(3)));
}

TEST_F(StartWorkersTest, SigkillToTheGuardianLeavesNothingBehind) {
  AddWorker("w1", "fork_grandchild");
  StartPool();
  std::vector<std::string> lines;
  ASSERT_TRUE(WaitFor([&] {
    return !(lines = testing::LinesWithPrefix(Events("w1"), "grandchild=")).empty();
  })) << Log();
  pid_t grandchild = std::stoi(lines[0].substr(11));
  reaper_.Track(grandchild);
  ASSERT_TRUE(WaitFor([&] { return FileExists(PidFile("w1")); }));
  kill(guardian_, SIGKILL);
  EXPECT_TRUE(WaitForExit(executor_, absl::Seconds(1)));
  EXPECT_TRUE(WaitForExit(grandchild, absl::Seconds(3)));
  EXPECT_TRUE(WaitFor(
      [&] {
        return !FileExists(PidFile("w1")) && !FileExists(options_.pid_filename) &&
               !FileExists(options_.pid_filename + ".sock") && !FileExists(Socket());
      },
      absl::Seconds(3)));
}

TEST_F(StartWorkersTest, ControlPlaneListsQuitsOneAndSnapshots) {
  pool_["restart_interval_ms"] = 100;
  pool_["debug_filename"] = dir_.File("debug.json");
  AddWorker("w1", "run_until_quit");
  AddWorker("w2", "run_until_quit");
  StartPool();
  ASSERT_GT(WaitStarted("w1"), 0);
  ASSERT_GT(WaitStarted("w2"), 0);
  ASSERT_TRUE(WaitFor([&] {
    return StateOf("w1") == v1::WORKER_STATE_RUNNING && StateOf("w2") == v1::WORKER_STATE_RUNNING;
  }));
  v1::ListWorkersResponse list = List();
  ASSERT_EQ(list.workers_size(), 2);
  EXPECT_EQ(list.controller_pid(), executor_);
  EXPECT_EQ(list.workers(0).name(), "w1");
  EXPECT_EQ(list.workers(0).current().pid(), PidOfEvent(Events("w1"), "started"));
  EXPECT_EQ(list.workers(1).pid_filename(), PidFile("w2"));

  // The guardian points to the controller and embeds its snapshot.
  auto guardian = v1::Guardian::NewStub(grpc::CreateChannel(
      "unix:" + options_.pid_filename + ".sock", grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    v1::GuardianStatus status;
    ASSERT_TRUE(guardian->GetStatus(&context, {}, &status).ok());
    EXPECT_EQ(status.controller_socket(), Socket());
  }

  // Unknown name: NOT_FOUND naming it; nothing changes.
  grpc::Status unknown = QuitWorker("nope");
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(unknown.error_message().find("nope"), std::string::npos);

  // One worker: it quits and stays stopped; the other runs on.
  ASSERT_TRUE(QuitWorker("w1").ok());
  EXPECT_TRUE(WaitFor([&] { return PidOfEvent(Events("w1"), "quit") != 0; }));
  EXPECT_TRUE(WaitFor([&] { return StateOf("w1") == v1::WORKER_STATE_EXITED; }));
  EXPECT_EQ(StateOf("w2"), v1::WORKER_STATE_RUNNING);

  // Snapshot == debug file, once the last change is written.
  std::string snapshot;
  EXPECT_TRUE(WaitFor([&] {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    v1::DebugSnapshot response;
    if (!Controller()->GetDebugSnapshot(&context, {}, &response).ok()) return false;
    snapshot = response.json();
    Json parsed = Json::parse(snapshot);
    return parsed["worker_info_list"][0]["pid"].is_null() &&
           snapshot == ReadFileOrEmpty(dir_.File("debug.json"));
  })) << snapshot;
  {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    v1::GuardianDebugSnapshot response;
    ASSERT_TRUE(guardian->GetDebugSnapshot(&context, {}, &response).ok());
    EXPECT_EQ(response.workers().json(), snapshot);
  }

  // The whole pool: StartWorkers returns, the entry returns OK, the daemon ends.
  ASSERT_TRUE(QuitWorker("").ok());
  EXPECT_TRUE(WaitFor([&] { return PidOfEvent(pool_["events"], "pool_returned") != 0; }));
  EXPECT_TRUE(WaitForExit(guardian_));
  EXPECT_FALSE(FileExists(Socket()));
  EXPECT_FALSE(FileExists(options_.pid_filename));
}

TEST_F(StartWorkersTest, SighupToTheGuardianReopensWorkerLogsAfterLogrotate) {
  const std::string log = dir_.File("w1.log");
  Json& worker = AddWorker("w1", "chatty_worker");
  worker["logging_json"] = R"({"handlers": [{"file": {"filename": ")" + log + R"("}}]})";
  worker["stdout_filename"] = dir_.File("w1.out");
  StartPool();
  ASSERT_TRUE(WaitFor(
      [&] { return ReadFileOrEmpty(log).find("worker module line") != std::string::npos; }));
  ASSERT_EQ(rename(log.c_str(), (log + ".1").c_str()), 0);
  ASSERT_EQ(rename(dir_.File("w1.out").c_str(), dir_.File("w1.out.1").c_str()), 0);
  kill(guardian_, SIGHUP);
  EXPECT_TRUE(WaitFor([&] {
    return ReadFileOrEmpty(log).find("[worker:w1]") != std::string::npos &&
           ReadFileOrEmpty(log).find("reopened") != std::string::npos;
  })) << Log();
  EXPECT_TRUE(FileExists(dir_.File("w1.out")));  // stdout reopened by name too
  EXPECT_TRUE(ProcessAlive(PidOfEvent(Events("w1"), "started")));
}

TEST_F(StartWorkersTest, PidFileRemovedByHandIsWrittenAgainWithinCheckInterval) {
  pool_["check_interval_ms"] = 100;
  AddWorker("w1", "run_until_quit");
  StartPool();
  pid_t w1 = WaitStarted("w1");
  ASSERT_GT(w1, 0);
  ASSERT_TRUE(WaitFor([&] { return FileExists(PidFile("w1")); }));
  ASSERT_EQ(unlink(PidFile("w1").c_str()), 0);
  EXPECT_TRUE(WaitFor([&] { return ReadFileOrEmpty(PidFile("w1")) == std::to_string(w1) + "\n"; }))
      << Log();
  EXPECT_NE(Log().find("is gone"), std::string::npos);
}

TEST_F(StartWorkersTest, HungControlChannelIsNoticedWithinCheckInterval) {
  pool_["check_interval_ms"] = 100;
  AddWorker("w1", "run_until_quit");
  StartPool();
  pid_t w1 = WaitStarted("w1");
  ASSERT_GT(w1, 0);
  ASSERT_TRUE(WaitFor([&] { return StateOf("w1") == v1::WORKER_STATE_RUNNING; }));
  kill(w1, SIGSTOP);  // frozen: its channel thread cannot answer the pings
  EXPECT_TRUE(WaitFor(
      [&] {
        return Log().find("w1 (pid " + std::to_string(w1) +
                          ") has not answered its control channel") != std::string::npos;
      },
      absl::Seconds(3)))
      << Log();
  kill(w1, SIGCONT);
  EXPECT_TRUE(WaitFor(
      [&] {
        return Log().find("w1 (pid " + std::to_string(w1) +
                          ") answers its control channel again") != std::string::npos;
      },
      absl::Seconds(3)))
      << Log();
  EXPECT_TRUE(ProcessAlive(w1));
}

// The worker fork server: the executor's child that is not a worker.
pid_t ForkServerOf(pid_t executor, const std::set<pid_t>& workers) {
  for (pid_t pid : testing::ChildrenOf(executor)) {
    if (workers.count(pid) == 0) return pid;
  }
  return 0;
}

TEST_F(StartWorkersTest, ForkServerSurvivesSighupAndIsReplacedWhenKilled) {
  pool_["restart_interval_ms"] = 0;
  AddWorker("w1", "run_until_quit");
  StartPool();
  pid_t first = WaitStarted("w1");
  ASSERT_GT(first, 0);
  pid_t server = ForkServerOf(executor_, {first});
  ASSERT_GT(server, 0);
  reaper_.Track(server);
  // `killall -HUP worker` (meant for the workers) reaches it too.
  kill(server, SIGHUP);
  kill(first, SIGKILL);
  pid_t second = WaitStarted("w1", 1);
  EXPECT_GT(second, 0) << Log();
  EXPECT_TRUE(ProcessAlive(server));
  // Killed outright: the next start gets a new server.
  kill(server, SIGKILL);
  kill(second, SIGKILL);
  EXPECT_GT(WaitStarted("w1", 2), 0) << Log();
  EXPECT_NE(Log().find("starting a new one"), std::string::npos) << Log();
}

// Nothing waits on the controller's loop: with its fork server stopped, a
// restart waits for the server's answer while the controller answers at
// once; at the answer's deadline the server is killed and replaced, and
// the restart goes through.
TEST_F(StartWorkersTest, AStoppedForkServerHoldsNothingUpAndIsReplacedAtItsDeadline) {
  pool_["restart_interval_ms"] = 0;
  AddWorker("w1", "run_until_quit");
  StartPool();
  pid_t first = WaitStarted("w1");
  ASSERT_GT(first, 0);
  pid_t server = ForkServerOf(executor_, {first});
  ASSERT_GT(server, 0);
  reaper_.Track(server);
  kill(server, SIGSTOP);
  kill(first, SIGKILL);
  ASSERT_TRUE(WaitFor([&] {
    v1::ListWorkersResponse list = List();
    return list.workers_size() == 1 && list.workers(0).history_size() == 1 &&
           list.workers(0).state() == v1::WORKER_STATE_STARTING && !list.workers(0).running();
  })) << Log();
  const absl::Time asked = absl::Now();
  EXPECT_EQ(List().workers_size(), 1);
  EXPECT_LT(absl::Now() - asked, absl::Seconds(1));
  EXPECT_GT(WaitStarted("w1", 1), 0) << Log();
  EXPECT_NE(Log().find("did not answer"), std::string::npos) << Log();
  EXPECT_NE(Log().find("starting a new one"), std::string::npos) << Log();
}

// Bad input: InvalidArgument naming the culprit, before any process starts.
// An installed layout: APPKIT_BIN_DIR holding the binaries and the
// control-plane plugin (readable, not executable, as `install -m 644`
// leaves a library), or a broken plugin.
class InstalledLayoutTest : public StartWorkersTest {
 protected:
  void SetUp() override {
    StartWorkersTest::SetUp();
    bin_ = dir_.File("bin");
    ASSERT_EQ(mkdir(bin_.c_str(), 0755), 0);
    for (const char* name : {"guardian", "executor", "worker"}) {
      auto path = internal::FindAppkitBinary(name);
      ASSERT_TRUE(path.ok()) << path.status();
      ASSERT_EQ(symlink(path->c_str(), (bin_ + "/" + name).c_str()), 0);
    }
    auto plugin = internal::FindAppkitFile("libappkit_control_plane.so", "controller");
    ASSERT_TRUE(plugin.ok()) << plugin.status();
    plugin_ = *plugin;
    setenv("APPKIT_BIN_DIR", bin_.c_str(), 1);
  }
  void TearDown() override {
    StartWorkersTest::TearDown();
    unsetenv("APPKIT_BIN_DIR");
  }
  void InstallPlugin(const std::string& content, mode_t mode) {
    const std::string path = bin_ + "/libappkit_control_plane.so";
    std::ofstream(path, std::ios::binary) << content;
    ASSERT_EQ(chmod(path.c_str(), mode), 0);
  }
  std::string bin_;
  std::string plugin_;
};

TEST_F(InstalledLayoutTest, ReadableOnlyPluginServesTheControlSocket) {
  InstallPlugin(ReadFileOrEmpty(plugin_), 0644);
  AddWorker("w1", "run_until_quit");
  StartPool();
  ASSERT_GT(WaitStarted("w1"), 0);
  ASSERT_TRUE(WaitFor([&] { return StateOf("w1") == v1::WORKER_STATE_RUNNING; })) << Log();
  // The installed copy, not one from the runfiles.
  EXPECT_NE(ReadFileOrEmpty("/proc/" + std::to_string(executor_) + "/maps")
                .find(bin_ + "/libappkit_control_plane.so"),
            std::string::npos);
}

TEST_F(InstalledLayoutTest, BrokenPluginLeavesThePoolRunningWithoutItsSocket) {
  InstallPlugin("not a shared library", 0644);
  AddWorker("w1", "run_until_quit");
  StartPool();
  ASSERT_GT(WaitStarted("w1"), 0) << Log();
  EXPECT_TRUE(WaitFor([&] {
    return Log().find("cannot load the control-plane plugin " + bin_ +
                      "/libappkit_control_plane.so") != std::string::npos &&
           Log().find("runs without its control socket") != std::string::npos;
  })) << Log();
  EXPECT_FALSE(FileExists(Socket()));
  // It is still a pool: SIGTERM to the executor stops it.
  kill(executor_, SIGTERM);
  EXPECT_TRUE(WaitForExit(guardian_, absl::Seconds(10)));
  EXPECT_FALSE(FileExists(PidFile("w1")));
}

class StartWorkersBadInputTest : public ::testing::Test {
 protected:
  WorkerStartInfo Worker(const std::string& name) {
    WorkerStartInfo info;
    info.name = name;
    info.entry = Module() + ":run_until_quit";
    info.pid_filename = dir_.File(name + ".pid");
    return info;
  }

  void ExpectInvalid(const std::vector<WorkerStartInfo>& workers, const WorkersOptions& options,
                     const std::string& culprit) {
    absl::Status status = StartWorkers(workers, options);
    EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
    EXPECT_NE(status.message().find(culprit), std::string::npos)
        << "'" << culprit << "' not in: " << status.message();
    for (const WorkerStartInfo& worker : workers) {
      EXPECT_FALSE(FileExists(worker.pid_filename)) << worker.pid_filename;
    }
  }

  testing::TempDir dir_;
  WorkersOptions options_;
};

TEST_F(StartWorkersBadInputTest, DuplicateName) {
  ExpectInvalid({Worker("a"), Worker("b"), Worker("a")}, options_, "'a'");
}

// The same module refused for a worker: the check is in entry resolution.
TEST_F(StartWorkersBadInputTest, ModuleThatLinksTheRuntimeIsRefused) {
  WorkerStartInfo worker = Worker("a");
  worker.entry = testing::RunfilePath("testing/liblinks_runtime.so") + ":daemon_main";
  ExpectInvalid({worker}, options_, "worker 'a'");
  ExpectInvalid({worker}, options_, "links its own copy of the appkit runtime");
}

TEST_F(StartWorkersBadInputTest, EmptyName) {
  ExpectInvalid({Worker("a"), Worker("")}, options_, "empty name");
}

TEST_F(StartWorkersBadInputTest, NameWithAControlCharacter) {
  // A newline in a name would forge lines in the pool's log.
  ExpectInvalid({Worker("a"), Worker("b\n[info] forged")}, options_, "b\\n[info] forged");
}

TEST_F(StartWorkersBadInputTest, MalformedEntry) {
  WorkerStartInfo worker = Worker("a");
  worker.entry = "no-colon-here";
  ExpectInvalid({worker}, options_, "no-colon-here");
}

TEST_F(StartWorkersBadInputTest, MissingFunction) {
  WorkerStartInfo worker = Worker("a");
  worker.entry = Module() + ":no_such_entry";
  ExpectInvalid({worker}, options_, "no_such_entry");
}

TEST_F(StartWorkersBadInputTest, MissingModule) {
  WorkerStartInfo worker = Worker("a");
  worker.entry = "no_such_module:main";
  ExpectInvalid({worker}, options_, "no_such_module");
}

TEST_F(StartWorkersBadInputTest, NegativeIntervals) {
  WorkersOptions options;
  options.restart_interval = absl::Seconds(-1);
  ExpectInvalid({Worker("a")}, options, "restart_interval");
  options = {};
  options.stop_timeout = absl::Milliseconds(-5);
  ExpectInvalid({Worker("a")}, options, "stop_timeout");
  options = {};
  options.check_interval = absl::Seconds(-1);
  ExpectInvalid({Worker("a")}, options, "check_interval");
}

TEST_F(StartWorkersBadInputTest, MissingDirectories) {
  const std::string missing = dir_.File("missing");
  WorkerStartInfo worker = Worker("a");
  worker.pid_filename = missing + "/a.pid";
  ExpectInvalid({worker}, options_, missing);
  worker = Worker("a");
  worker.stdout_filename = missing + "/out";
  ExpectInvalid({worker}, options_, missing);
  worker = Worker("a");
  worker.stderr_filename = missing + "/err";
  ExpectInvalid({worker}, options_, missing);
  WorkersOptions options;
  options.debug_filename = missing + "/debug.json";
  ExpectInvalid({Worker("a")}, options, missing);
}

TEST_F(StartWorkersBadInputTest, ZeroCheckInterval) {
  WorkersOptions options;
  options.check_interval = absl::ZeroDuration();
  ExpectInvalid({Worker("a")}, options, "check_interval");
}

TEST_F(StartWorkersBadInputTest, SharedPidFile) {
  WorkerStartInfo b = Worker("b");
  b.pid_filename = dir_.File("a.pid");
  ExpectInvalid({Worker("a"), b}, options_, "a.pid");
}

}  // namespace
}  // namespace appkit
