// Integration tests of the Controller's worker verbs (SPEC §9):
// StartWorker, RestartWorker, AddWorker, RemoveWorker, RollingRestart, on
// a real daemon (guardian, executor) whose entry runs a pool of real
// worker processes, in a private temp dir. Every pid a test sees is
// tracked and killed if it survives.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/appkit.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "proto/controller.grpc.pb.h"
#include "proto/guardian.grpc.pb.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::PidOfEvent;
using ::appkit::testing::ProcessAlive;
using ::appkit::testing::ReadFileOrEmpty;
using ::appkit::testing::WaitFor;
using ::appkit::testing::WaitForExit;
using Json = nlohmann::json;

std::string Module() { return testing::RunfilePath("testing/libtest_module.so"); }

std::chrono::system_clock::time_point Deadline(int seconds = 10) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

class WorkerVerbsTest : public ::testing::Test {
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
    pool_["check_interval_ms"] = 3600 * 1000;
    pool_["debug_filename"] = dir_.File("debug.json");
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

  void AddToPool(const std::string& name, const std::string& function, Json args = Json::object()) {
    args["events"] = Events(name);
    pool_["workers"].push_back({{"name", name},
                                {"entry", Module() + ":" + function},
                                {"pid_filename", PidFile(name)},
                                {"args", args}});
  }

  void StartPool() {
    auto args = Args::FromJson(pool_.dump());
    ASSERT_TRUE(args.ok()) << args.status();
    options_.daemon_args = *args;
    options_.daemon_entry = Module() + ":run_workers";
    DaemonStartResult result = StartDaemon(options_);
    ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
    guardian_ = *result.pid;
    reaper_.Track(guardian_);
    pid_t executor = 0;
    ASSERT_TRUE(WaitFor([&] {
      return (executor = PidOfEvent(pool_["events"], "pool_starting")) != 0;
    })) << Log();
    reaper_.Track(executor);
    ASSERT_TRUE(WaitFor([&] { return access(Socket().c_str(), F_OK) == 0; })) << Log();
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

  const v1::WorkerStatus* Find(const v1::ListWorkersResponse& list, const std::string& name) {
    for (const auto& worker : list.workers()) {
      if (worker.name() == name) return &worker;
    }
    return nullptr;
  }

  v1::WorkerState StateOf(const std::string& name) {
    v1::ListWorkersResponse list = List();
    const v1::WorkerStatus* worker = Find(list, name);
    return worker ? worker->state() : v1::WORKER_STATE_UNSPECIFIED;
  }

  grpc::Status Verb(const std::string& verb, const std::string& name,
                    v1::WorkerResponse* response = nullptr) {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    v1::WorkerRequest request;
    request.set_worker_name(name);
    v1::WorkerResponse ignored;
    if (response == nullptr) response = &ignored;
    if (verb == "start") return Controller()->StartWorker(&context, request, response);
    if (verb == "restart") return Controller()->RestartWorker(&context, request, response);
    v1::ControllerRequestQuitRequest quit;
    quit.set_worker_name(name);
    v1::ControllerRequestQuitResponse quit_response;
    return Controller()->RequestQuit(&context, quit, &quit_response);
  }

  grpc::Status Remove(const std::string& name) {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    v1::WorkerRequest request;
    request.set_worker_name(name);
    v1::RemoveWorkerResponse response;
    return Controller()->RemoveWorker(&context, request, &response);
  }

  v1::WorkerSpec Spec(const std::string& name, const std::string& function) {
    v1::WorkerSpec spec;
    spec.set_name(name);
    spec.set_entry(Module() + ":" + function);
    spec.set_pid_filename(PidFile(name));
    (*spec.mutable_args()->mutable_fields())["events"].set_string_value(Events(name));
    return spec;
  }

  grpc::Status Add(const v1::WorkerSpec& spec, v1::WorkerResponse* response = nullptr) {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    v1::AddWorkerRequest request;
    *request.mutable_spec() = spec;
    v1::WorkerResponse ignored;
    return Controller()->AddWorker(&context, request, response ? response : &ignored);
  }

  grpc::Status Rolling(v1::RollingRestartResponse* response, int seconds = 30) {
    grpc::ClientContext context;
    context.set_deadline(Deadline(seconds));
    return Controller()->RollingRestart(&context, {}, response);
  }

  Json DebugFile() {
    std::string text = ReadFileOrEmpty(dir_.File("debug.json"));
    return text.empty() ? Json() : Json::parse(text);
  }

  std::vector<std::string> DebugNames() {
    std::vector<std::string> names;
    Json debug = DebugFile();
    if (debug.is_null()) return names;
    for (const Json& worker : debug["worker_info_list"]) names.push_back(worker["name"]);
    return names;
  }

  std::string Log() const { return ReadFileOrEmpty(dir_.File("daemon.log")); }

  testing::TempDir dir_;
  testing::ProcessReaper reaper_;
  DaemonOptions options_;
  Json pool_;
  pid_t guardian_ = 0;
};

TEST_F(WorkerVerbsTest, StartWorkerStartsAStoppedWorkerAndRefusesARunningOne) {
  AddToPool("w1", "run_until_quit");
  AddToPool("w2", "run_until_quit");
  StartPool();
  const pid_t first = WaitStarted("w1");
  ASSERT_GT(first, 0) << Log();
  ASSERT_GT(WaitStarted("w2"), 0) << Log();
  ASSERT_TRUE(WaitFor([&] { return StateOf("w2") == v1::WORKER_STATE_RUNNING; }));

  ASSERT_TRUE(Verb("quit", "w1").ok());
  ASSERT_TRUE(WaitFor([&] { return StateOf("w1") == v1::WORKER_STATE_EXITED; })) << Log();
  v1::WorkerResponse response;
  grpc::Status status = Verb("start", "w1", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.worker().name(), "w1");
  EXPECT_EQ(response.worker().state(), v1::WORKER_STATE_STARTING);
  const pid_t second = WaitStarted("w1", 1);
  ASSERT_GT(second, 0) << Log();
  EXPECT_NE(second, first);
  EXPECT_TRUE(WaitFor([&] { return StateOf("w1") == v1::WORKER_STATE_RUNNING; }));

  status = Verb("start", "w2");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("worker 'w2' is running (pid "), std::string::npos)
      << status.error_message();
  status = Verb("start", "nope");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(status.error_message().find("'nope'"), std::string::npos);
  EXPECT_EQ(PidOfEvent(Events("w2"), "started", 1), 0);  // never touched
}

TEST_F(WorkerVerbsTest, RestartWorkerQuitsWaitsAndStartsAgain) {
  AddToPool("w1", "run_until_quit");
  AddToPool("stubborn", "ignore_quit");
  pool_["stop_timeout_ms"] = 300;
  StartPool();
  const pid_t first = WaitStarted("w1");
  ASSERT_GT(first, 0) << Log();
  const pid_t stubborn = WaitStarted("stubborn");
  ASSERT_GT(stubborn, 0) << Log();
  ASSERT_TRUE(WaitFor([&] { return StateOf("w1") == v1::WORKER_STATE_RUNNING; }));

  grpc::Status status = Verb("restart", "w1");
  ASSERT_TRUE(status.ok()) << status.error_message();
  const pid_t second = WaitStarted("w1", 1);
  ASSERT_GT(second, 0) << Log();
  EXPECT_NE(PidOfEvent(Events("w1"), "quit"), 0);  // asked to quit, gracefully
  EXPECT_FALSE(ProcessAlive(first));
  ASSERT_TRUE(WaitFor([&] { return StateOf("w1") == v1::WORKER_STATE_RUNNING; }));
  v1::ListWorkersResponse list = List();
  EXPECT_EQ(Find(list, "w1")->restart_count(), 1);
  ASSERT_EQ(Find(list, "w1")->history_size(), 1);
  EXPECT_EQ(Find(list, "w1")->history(0).exitcode(), 0);

  // One that ignores the quit request: SIGKILL after stop_timeout, then
  // started again.
  ASSERT_TRUE(WaitFor([&] { return StateOf("stubborn") == v1::WORKER_STATE_RUNNING; }));
  ASSERT_TRUE(Verb("restart", "stubborn").ok());
  ASSERT_GT(WaitStarted("stubborn", 1), 0) << Log();
  EXPECT_FALSE(ProcessAlive(stubborn));
  list = List();
  ASSERT_EQ(Find(list, "stubborn")->history_size(), 1);
  EXPECT_EQ(Find(list, "stubborn")->history(0).exitcode(), -SIGKILL);

  // A stopped worker just starts.
  ASSERT_TRUE(Verb("quit", "w1").ok());
  ASSERT_TRUE(WaitFor([&] { return StateOf("w1") == v1::WORKER_STATE_EXITED; }));
  ASSERT_TRUE(Verb("restart", "w1").ok());
  ASSERT_GT(WaitStarted("w1", 2), 0) << Log();

  EXPECT_EQ(Verb("restart", "nope").error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(WorkerVerbsTest, AddWorkerChecksTheSpecAsStartWorkersDoesAndGivesTheNextIndex) {
  AddToPool("w1", "run_until_quit");
  AddToPool("w2", "run_until_quit");
  StartPool();
  ASSERT_GT(WaitStarted("w1"), 0) << Log();

  v1::WorkerResponse response;
  grpc::Status status = Add(Spec("w3", "run_until_quit"), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.worker().index(), 2);
  EXPECT_EQ(response.worker().name(), "w3");
  const pid_t w3 = WaitStarted("w3");
  ASSERT_GT(w3, 0) << Log();
  EXPECT_EQ(ReadFileOrEmpty(PidFile("w3")), std::to_string(w3) + "\n");
  ASSERT_TRUE(WaitFor([&] { return StateOf("w3") == v1::WORKER_STATE_RUNNING; }));
  v1::ListWorkersResponse list = List();
  ASSERT_EQ(list.workers_size(), 3);
  EXPECT_EQ(list.workers(2).name(), "w3");
  EXPECT_EQ(list.workers(2).index(), 2);
  EXPECT_TRUE(WaitFor([&] { return DebugNames() == std::vector<std::string>{"w1", "w2", "w3"}; }));

  struct Bad {
    v1::WorkerSpec spec;
    grpc::StatusCode code;
    std::string message;
  };
  std::vector<Bad> bad;
  bad.push_back({Spec("w1", "run_until_quit"), grpc::StatusCode::ALREADY_EXISTS,
                 "a worker named 'w1' exists already (index 0)"});
  bad.push_back(
      {Spec("", "run_until_quit"), grpc::StatusCode::INVALID_ARGUMENT, "worker #3 (entry '"});
  bad.push_back({Spec("bad\nname", "run_until_quit"), grpc::StatusCode::INVALID_ARGUMENT,
                 "worker #3 name 'bad\\nname' has a control character"});
  bad.push_back(
      {Spec("w4", "no_such_function"), grpc::StatusCode::INVALID_ARGUMENT, "worker 'w4': "});
  v1::WorkerSpec no_pid = Spec("w4", "run_until_quit");
  no_pid.clear_pid_filename();
  bad.push_back(
      {no_pid, grpc::StatusCode::INVALID_ARGUMENT, "worker 'w4': pid_filename is required"});
  v1::WorkerSpec shared_pid = Spec("w4", "run_until_quit");
  shared_pid.set_pid_filename(PidFile("w2"));
  bad.push_back({shared_pid, grpc::StatusCode::INVALID_ARGUMENT,
                 "worker 'w4': pid file " + PidFile("w2") + " is also worker 'w2''s"});
  v1::WorkerSpec bad_out = Spec("w4", "run_until_quit");
  bad_out.set_stdout_filename(dir_.File("no/such/dir/out"));
  bad.push_back({bad_out, grpc::StatusCode::INVALID_ARGUMENT, "worker 'w4': "});
  v1::WorkerSpec no_entry = Spec("w4", "run_until_quit");
  no_entry.clear_entry();
  bad.push_back({no_entry, grpc::StatusCode::INVALID_ARGUMENT, "worker 'w4': entry is required"});
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.message);
    status = Add(b.spec);
    EXPECT_EQ(status.error_code(), b.code) << status.error_message();
    EXPECT_NE(status.error_message().find(b.message), std::string::npos) << status.error_message();
  }
  // Nothing was added, nothing started.
  EXPECT_EQ(List().workers_size(), 3);
  EXPECT_EQ(ReadFileOrEmpty(Events("w4")), "");
  // The next one still gets index 3.
  status = Add(Spec("w4", "run_until_quit"), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.worker().index(), 3);
  ASSERT_GT(WaitStarted("w4"), 0) << Log();
}

TEST_F(WorkerVerbsTest, RemoveWorkerStopsItAndForgetsIt) {
  AddToPool("w1", "run_until_quit");
  AddToPool("w2", "run_until_quit");
  StartPool();
  const pid_t w1 = WaitStarted("w1");
  ASSERT_GT(w1, 0) << Log();
  ASSERT_GT(WaitStarted("w2"), 0) << Log();
  ASSERT_TRUE(WaitFor([&] { return DebugNames() == std::vector<std::string>{"w1", "w2"}; }));

  grpc::Status status = Remove("w1");
  ASSERT_TRUE(status.ok()) << status.error_message();
  // Answered once it is gone: stopped gracefully, and forgotten.
  EXPECT_NE(PidOfEvent(Events("w1"), "quit"), 0);
  EXPECT_TRUE(WaitForExit(w1, absl::Seconds(5)));
  v1::ListWorkersResponse list = List();
  ASSERT_EQ(list.workers_size(), 1);
  EXPECT_EQ(list.workers(0).name(), "w2");
  EXPECT_TRUE(WaitFor([&] { return DebugNames() == std::vector<std::string>{"w2"}; }));
  EXPECT_EQ(access(PidFile("w1").c_str(), F_OK), -1);

  EXPECT_EQ(Remove("w1").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Verb("start", "w1").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Verb("quit", "w1").error_code(), grpc::StatusCode::NOT_FOUND);

  // Its name is free again; indexes are not reused.
  v1::WorkerResponse response;
  status = Add(Spec("w1", "run_until_quit"), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.worker().index(), 2);
  ASSERT_GT(WaitStarted("w1", 1), 0) << Log();

  // A worker that is not running is forgotten at once.
  ASSERT_TRUE(Verb("quit", "w2").ok());
  ASSERT_TRUE(WaitFor([&] { return StateOf("w2") == v1::WORKER_STATE_EXITED; }));
  ASSERT_TRUE(Remove("w2").ok());
  list = List();
  ASSERT_EQ(list.workers_size(), 1);
  EXPECT_EQ(list.workers(0).name(), "w1");
}

// Workers crash and restart all the time while others are added and
// removed: every call is answered, the pool's list follows, and the pool
// still stops cleanly.
TEST_F(WorkerVerbsTest, AddAndRemoveUnderChurn) {
  AddToPool("steady", "run_until_quit");
  AddToPool("crasher", "crash");
  pool_["restart_interval_ms"] = 20;
  StartPool();
  ASSERT_GT(WaitStarted("steady"), 0) << Log();
  ASSERT_GT(WaitStarted("crasher", 3), 0) << Log();
  for (int round = 0; round < 8; ++round) {
    SCOPED_TRACE(round);
    const std::string name = "c" + std::to_string(round);
    // Half of them crash as they start, the others run.
    grpc::Status status = Add(Spec(name, round % 2 ? "crash" : "run_until_quit"));
    ASSERT_TRUE(status.ok()) << status.error_message();
    if (round % 2 == 0) {
      ASSERT_GT(WaitStarted(name), 0) << Log();
    }
    status = Verb("restart", "crasher");  // whatever state it is in
    EXPECT_TRUE(status.ok()) << status.error_message();
    if (round > 0) {
      status = Remove("c" + std::to_string(round - 1));
      ASSERT_TRUE(status.ok()) << status.error_message();
    }
  }
  ASSERT_TRUE(Remove("crasher").ok());
  v1::ListWorkersResponse list = List();
  std::vector<std::string> names;
  std::vector<int> indexes;
  for (const auto& worker : list.workers()) {
    names.push_back(worker.name());
    indexes.push_back(worker.index());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"steady", "c7"}));
  EXPECT_EQ(indexes, (std::vector<int>{0, 9}));
  kill(guardian_, SIGTERM);
  ASSERT_TRUE(WaitForExit(guardian_, absl::Seconds(15)));
  EXPECT_NE(PidOfEvent(pool_["events"], "pool_returned"), 0) << Log();
}

// All but one worker run at every moment of a rolling restart: a thread
// watches ListWorkers all along.
TEST_F(WorkerVerbsTest, RollingRestartKeepsAllButOneWorkerRunning) {
  const std::vector<std::string> names = {"w1", "w2", "w3", "w4"};
  for (const std::string& name : names) AddToPool(name, "run_until_quit");
  StartPool();
  std::vector<pid_t> first;
  for (const std::string& name : names) {
    first.push_back(WaitStarted(name));
    ASSERT_GT(first.back(), 0) << Log();
  }
  ASSERT_TRUE(WaitFor([&] {
    v1::ListWorkersResponse list = List();
    for (const auto& worker : list.workers()) {
      if (worker.state() != v1::WORKER_STATE_RUNNING) return false;
    }
    return true;
  }));

  std::atomic<bool> done{false};
  std::atomic<int> fewest{100};
  std::atomic<int> samples{0};
  std::thread watcher([&] {
    auto stub = Controller();
    while (!done) {
      grpc::ClientContext context;
      context.set_deadline(Deadline());
      v1::ListWorkersResponse list;
      if (!stub->ListWorkers(&context, {}, &list).ok()) continue;
      int running = 0;
      for (const auto& worker : list.workers()) {
        running += worker.state() == v1::WORKER_STATE_RUNNING;
      }
      if (running < fewest) fewest = running;
      ++samples;
    }
  });
  v1::RollingRestartResponse response;
  grpc::Status status = Rolling(&response);
  done = true;
  watcher.join();
  ASSERT_TRUE(status.ok()) << status.error_message() << Log();
  EXPECT_EQ(std::vector<std::string>(response.restarted().begin(), response.restarted().end()),
            names);
  EXPECT_GT(samples.load(), 0);
  EXPECT_EQ(fewest.load(), static_cast<int>(names.size()) - 1);
  // Each was replaced, in order: a worker's replacement started before
  // the next worker was asked to quit.
  for (size_t i = 0; i < names.size(); ++i) {
    ASSERT_GT(WaitStarted(names[i], 1), 0);
    EXPECT_FALSE(ProcessAlive(first[i]));
  }
  v1::ListWorkersResponse list = List();
  for (const auto& worker : list.workers()) {
    EXPECT_EQ(worker.state(), v1::WORKER_STATE_RUNNING) << worker.name();
    EXPECT_EQ(worker.restart_count(), 1) << worker.name();
  }
}

TEST_F(WorkerVerbsTest, ASecondRollingRestartIsRefusedWhileOneRuns) {
  AddToPool("slow", "ignore_quit");  // each restart waits for stop_timeout
  AddToPool("w2", "run_until_quit");
  pool_["stop_timeout_ms"] = 1500;
  StartPool();
  ASSERT_GT(WaitStarted("slow"), 0) << Log();
  ASSERT_GT(WaitStarted("w2"), 0) << Log();
  ASSERT_TRUE(WaitFor([&] { return StateOf("slow") == v1::WORKER_STATE_RUNNING; }));

  grpc::Status first_status;
  v1::RollingRestartResponse first;
  std::thread roller([&] { first_status = Rolling(&first); });
  ASSERT_TRUE(WaitFor([&] { return StateOf("slow") == v1::WORKER_STATE_STOPPING; }));
  v1::RollingRestartResponse second;
  grpc::Status status = Rolling(&second);
  roller.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("a rolling restart is already under way"),
            std::string::npos)
      << status.error_message();
  ASSERT_TRUE(first_status.ok()) << first_status.error_message();
  EXPECT_EQ(first.restarted_size(), 2);
}

TEST_F(WorkerVerbsTest, ARollingRestartStopsAtAReplacementThatFails) {
  // w2's replacement cannot start: its stdout's directory is gone.
  const std::string out_dir = dir_.File("w2out");
  ASSERT_EQ(mkdir(out_dir.c_str(), 0700), 0);
  AddToPool("w1", "run_until_quit");
  AddToPool("w2", "run_until_quit");
  pool_["workers"][1]["stdout_filename"] = out_dir + "/out";
  AddToPool("w3", "run_until_quit");
  StartPool();
  const pid_t w3 = WaitStarted("w3");
  ASSERT_GT(w3, 0) << Log();
  ASSERT_GT(WaitStarted("w2"), 0) << Log();
  ASSERT_TRUE(WaitFor([&] {
    v1::ListWorkersResponse list = List();
    for (const auto& worker : list.workers()) {
      if (worker.state() != v1::WORKER_STATE_RUNNING) return false;
    }
    return true;
  }));
  ASSERT_EQ(unlink((out_dir + "/out").c_str()), 0);
  ASSERT_EQ(rmdir(out_dir.c_str()), 0);
  v1::RollingRestartResponse response;
  grpc::Status status = Rolling(&response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_NE(status.error_message().find("worker 'w2' could not start"), std::string::npos)
      << status.error_message();
  EXPECT_NE(status.error_message().find("restarted before it: [w1]"), std::string::npos)
      << status.error_message();
  // w3 was not touched.
  EXPECT_TRUE(ProcessAlive(w3));
  EXPECT_EQ(PidOfEvent(Events("w3"), "started", 1), 0);
  EXPECT_EQ(StateOf("w2"), v1::WORKER_STATE_EXITED);
}

// appkitctl worker start|restart|stop|remove and rolling-restart, as a
// separate process, in the pid-file form (the config form shares the code
// after finding the daemon's pid file).
testing::CommandResult Ctl(std::vector<std::string> args) {
  args.insert(args.begin(), testing::RunfilePath("client/appkitctl"));
  return testing::RunCommand(args);
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_F(WorkerVerbsTest, AppkitctlWorkerVerbsAndRollingRestart) {
  AddToPool("w1", "run_until_quit");
  AddToPool("w2", "run_until_quit");
  StartPool();
  const pid_t w1 = WaitStarted("w1");
  ASSERT_GT(w1, 0) << Log();
  ASSERT_GT(WaitStarted("w2"), 0) << Log();
  ASSERT_TRUE(WaitFor([&] { return StateOf("w1") == v1::WORKER_STATE_RUNNING; }));
  const std::string pid_file = options_.pid_filename;

  // stop waits until the process is gone.
  testing::CommandResult r = Ctl({"worker", "stop", "w1", "--pid-file", pid_file});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "worker w1: stopped\n");
  EXPECT_FALSE(ProcessAlive(w1));
  r = Ctl({"worker", "stop", "w1", "--pid-file", pid_file});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "worker w1: not running\n");

  r = Ctl({"--json", "worker", "start", "w1", "--pid-file", pid_file});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  Json json = Json::parse(r.out);
  EXPECT_EQ(json["worker"], "w1");
  EXPECT_EQ(json["result"], "started");
  EXPECT_EQ(json["status"]["name"], "w1");
  ASSERT_GT(WaitStarted("w1", 1), 0) << Log();
  ASSERT_TRUE(WaitFor([&] { return StateOf("w1") == v1::WORKER_STATE_RUNNING; }));

  r = Ctl({"worker", "start", "w1", "--pid-file", pid_file});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Has(r.err, "worker 'w1' is running (pid ")) << r.err;
  r = Ctl({"worker", "restart", "nope", "--pid-file", pid_file});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "no worker named 'nope'\n");

  r = Ctl({"worker", "restart", "w1", "--pid-file", pid_file});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "worker w1: restarting\n");
  ASSERT_GT(WaitStarted("w1", 2), 0) << Log();
  ASSERT_TRUE(WaitFor([&] { return StateOf("w1") == v1::WORKER_STATE_RUNNING; }));

  r = Ctl({"rolling-restart", "--pid-file", pid_file});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "restarted 2 workers, one at a time: w1 w2\n");
  r = Ctl({"rolling-restart", "--pid-file", pid_file, "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out)["restarted"], Json({"w1", "w2"}));

  r = Ctl({"worker", "remove", "w2", "--pid-file", pid_file});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "worker w2: stopped and removed\n");
  EXPECT_EQ(List().workers_size(), 1);

  // Usage errors exit 2; a daemon that is not running exits 3.
  r = Ctl({"worker", "frobnicate", "w1", "--pid-file", pid_file});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Has(r.err, "worker needs a verb: start, restart, stop or remove")) << r.err;
  r = Ctl({"worker", "start", "--pid-file", pid_file});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Has(r.err, "worker start needs one worker name")) << r.err;
  r = Ctl({"rolling-restart", "--pid-file", pid_file, "--all"});
  EXPECT_EQ(r.exit_code, 2);
  r = Ctl({"worker", "start", "w1", "--pid-file", dir_.File("other.pid")});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  r = Ctl({"rolling-restart", "--pid-file", dir_.File("other.pid")});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  r = Ctl({"--help"});
  EXPECT_TRUE(Has(r.out, "worker start|restart|stop|remove WORKER --pid-file F")) << r.out;
  EXPECT_TRUE(Has(r.out, "rolling-restart --pid-file F")) << r.out;
}

// Process names (SPEC §10): every process of the daemon says in ps which
// daemon and worker it is, in its command line and its comm.
std::string Cmdline(pid_t pid) {
  std::string text = ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/cmdline"));
  while (!text.empty() && text.back() == '\0') text.pop_back();
  for (char& c : text) {
    if (c == '\0') c = ' ';
  }
  return text;
}

std::string Comm(pid_t pid) {
  std::string text = ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/comm"));
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> children;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return children;
  while (dirent* entry = readdir(dir)) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &pid)) continue;
    if (testing::ParentOf(pid) == parent) children.push_back(pid);
  }
  closedir(dir);
  return children;
}

TEST_F(WorkerVerbsTest, EveryProcessSaysWhichDaemonAndWorkerItIs) {
  options_.name = "demo";
  AddToPool("greeter-1", "run_until_quit");
  StartPool();
  const pid_t worker = WaitStarted("greeter-1");
  ASSERT_GT(worker, 0) << Log();
  const pid_t executor = PidOfEvent(pool_["events"], "pool_starting");
  EXPECT_EQ(Cmdline(guardian_), "appkit-guardian demo");
  EXPECT_EQ(Comm(guardian_), "appkit-guardian");
  EXPECT_EQ(Cmdline(executor), "appkit-executor demo");
  EXPECT_EQ(Comm(executor), "appkit-executor");
  EXPECT_EQ(Cmdline(worker), "appkit-worker demo/greeter-1");
  EXPECT_EQ(Comm(worker), "greeter-1");
  // The fork servers: the executors' (the guardian's child) and the
  // workers' (the executor's).
  std::vector<std::string> titles;
  for (pid_t pid : ChildrenOf(guardian_)) titles.push_back(Cmdline(pid));
  const std::string server = absl::StrCat("appkit-fork-server demo/executor ",
                                          options_.pid_filename, " ", options_.pid_filename);
  EXPECT_TRUE(std::any_of(titles.begin(), titles.end(), [&](const std::string& t) {
    return t.rfind(server, 0) == 0;
  })) << absl::StrJoin(titles, " | ");
  titles.clear();
  std::vector<std::string> comms;
  for (pid_t pid : ChildrenOf(executor)) {
    titles.push_back(Cmdline(pid));
    comms.push_back(Comm(pid));
  }
  EXPECT_NE(std::find(titles.begin(), titles.end(), "appkit-fork-server demo/workers"),
            titles.end())
      << absl::StrJoin(titles, " | ");
  EXPECT_NE(std::find(comms.begin(), comms.end(), "appkit-forksrv"), comms.end());
  // GuardianStatus.name.
  auto stub = v1::Guardian::NewStub(grpc::CreateChannel("unix:" + options_.pid_filename + ".sock",
                                                        grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  v1::GuardianStatus status;
  ASSERT_TRUE(stub->GetStatus(&context, {}, &status).ok());
  EXPECT_EQ(status.name(), "demo");
  // A worker added later is named too.
  ASSERT_TRUE(Add(Spec("greeter-2", "run_until_quit")).ok());
  const pid_t added = WaitStarted("greeter-2");
  ASSERT_GT(added, 0) << Log();
  EXPECT_EQ(Cmdline(added), "appkit-worker demo/greeter-2");
}

TEST_F(WorkerVerbsTest, TheDaemonNameDefaultsToThePidFilesNameAndIsChecked) {
  AddToPool("w1", "run_until_quit");
  StartPool();  // d.pid
  EXPECT_EQ(Cmdline(guardian_), "appkit-guardian d");
  const pid_t worker = WaitStarted("w1");
  ASSERT_GT(worker, 0) << Log();
  EXPECT_EQ(Cmdline(worker), "appkit-worker d/w1");

  DaemonOptions bad = options_;
  bad.pid_filename = dir_.File("other.pid");
  bad.name = "a/b";
  DaemonStartResult result = StartDaemon(bad);
  EXPECT_EQ(result.status, DaemonRunStatus::kLaunchFailed);
  EXPECT_NE(result.error.find("DaemonOptions.name 'a/b' has a '/'"), std::string::npos)
      << result.error;
  bad.name = "tab\there";
  result = StartDaemon(bad);
  EXPECT_NE(result.error.find("DaemonOptions.name 'tab\\there' has a control character"),
            std::string::npos)
      << result.error;
  bad.name = std::string(65, 'x');
  result = StartDaemon(bad);
  EXPECT_NE(result.error.find("is 65 bytes long; at most 64"), std::string::npos) << result.error;
  bad.name = "";
  bad.pid_filename = dir_.File(".pid");
  result = StartDaemon(bad);
  EXPECT_NE(result.error.find("DaemonOptions.name (unset: the pid file "), std::string::npos)
      << result.error;
  EXPECT_NE(result.error.find("is empty"), std::string::npos) << result.error;
  EXPECT_EQ(access(dir_.File("other.pid").c_str(), F_OK), -1);  // nothing left
}

// AddWorker with a program (SPEC §10): the spec's command, environment and
// working directory reach the program, checked as StartWorkers checks them.
TEST_F(WorkerVerbsTest, AddWorkerRunsACommandAndRefusesAMissingProgramNamingIt) {
  AddToPool("w1", "run_until_quit");
  StartPool();
  ASSERT_GT(WaitStarted("w1"), 0) << Log();
  ASSERT_EQ(mkdir(dir_.File("work").c_str(), 0700), 0);

  v1::WorkerSpec spec;
  spec.set_name("prog");
  spec.set_pid_filename(PidFile("prog"));
  const std::string record = dir_.File("prog.record");
  for (const std::string& arg :
       {testing::RunfilePath("testing/notify_program"), std::string("--record"), record}) {
    spec.add_command(arg);
  }
  (*spec.mutable_environment())["APPKIT_TEST_VAR"] = "from the spec";
  spec.set_working_directory(dir_.File("work"));
  v1::WorkerResponse response;
  grpc::Status status = Add(spec, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.worker().name(), "prog");
  // "started pid=P cwd=C var=V notify=..." (testing/notify_program.c)
  pid_t pid = 0;
  ASSERT_TRUE(WaitFor([&] {
    const std::string line = ReadFileOrEmpty(record);
    return line.rfind("started pid=", 0) == 0 &&
           absl::SimpleAtoi(line.substr(12, line.find(' ', 12) - 12), &pid);
  })) << Log();
  reaper_.Track(pid);
  EXPECT_NE(ReadFileOrEmpty(record).find(absl::StrCat(
                "started pid=", pid, " cwd=", dir_.File("work"), " var=from the spec")),
            std::string::npos)
      << ReadFileOrEmpty(record);
  ASSERT_TRUE(WaitFor([&] { return StateOf("prog") == v1::WORKER_STATE_RUNNING; })) << Log();
  v1::ListWorkersResponse list = List();
  ASSERT_EQ(list.workers_size(), 2);
  EXPECT_EQ(list.workers(1).current().pid(), pid);
  EXPECT_EQ(ReadFileOrEmpty(PidFile("prog")), absl::StrCat(pid, "\n"));

  v1::WorkerSpec missing = spec;
  missing.set_name("gone");
  missing.set_pid_filename(PidFile("gone"));
  missing.set_command(0, "no-such-program-xyz");
  status = Add(missing);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("worker 'gone': "), std::string::npos)
      << status.error_message();
  EXPECT_NE(status.error_message().find("no-such-program-xyz"), std::string::npos)
      << status.error_message();
  v1::WorkerSpec both = missing;
  both.set_command(0, testing::RunfilePath("testing/notify_program"));
  both.set_entry(Module() + ":run_until_quit");
  status = Add(both);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("are both set"), std::string::npos)
      << status.error_message();
  // Nothing was added, nothing started.
  EXPECT_EQ(List().workers_size(), 2);
  EXPECT_FALSE(testing::FileExists(PidFile("gone")));
}

}  // namespace
}  // namespace appkit
