// appkitctl for daily use (issue 15 items 3 and 4) against real daemons:
// several names and --all, list --json, --help, pids as JSON numbers,
// logs -n and -f across a logrotate rename, reload (added, removed,
// changed daemons), restart (stop + start for now), and a mordor-style
// daemons.yaml using each feature (description, {{ name }}, PyYAML
// scalars, app_name/daemon_name, --layout mordor). Each error path names
// its culprit. The CLI runs as a separate process.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "client/appkit.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::CommandResult;
using ::appkit::testing::FileExists;
using ::appkit::testing::ProcessAlive;
using ::appkit::testing::ReadFileOrEmpty;
using ::appkit::testing::WaitFor;
using ::appkit::testing::WaitForExit;
using Json = nlohmann::json;

std::string Module() { return testing::RunfilePath("testing/libtest_module.so"); }
std::string CtlPath() { return testing::RunfilePath("client/appkitctl"); }

CommandResult Ctl(std::vector<std::string> args) {
  args.insert(args.begin(), CtlPath());
  return testing::RunCommand(args);
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

pid_t ReadPid(const std::string& path) {
  std::string text = ReadFileOrEmpty(path);
  return text.empty() ? 0 : static_cast<pid_t>(std::atoi(text.c_str()));
}

class DailyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"demo1", "demo2", "demo3"}) {
      ASSERT_EQ(symlink(Module().c_str(), dir_.File(absl::StrCat("lib", name, ".so")).c_str()), 0);
    }
  }
  void TearDown() override {
    // Whatever is still running: stop it, then make sure the guardians are gone.
    std::vector<pid_t> pids;
    for (const char* name : {"demo1", "demo2", "demo3"}) {
      pid_t pid = ReadPid(Pid(name));
      if (pid > 0) pids.push_back(pid);
    }
    for (const std::string& path : pid_files_) {
      if (pid_t pid = ReadPid(path); pid > 0) pids.push_back(pid);
    }
    for (pid_t pid : pids) {
      if (ProcessAlive(pid)) kill(pid, SIGTERM);
    }
    for (pid_t pid : pids) WaitForExit(pid, absl::Seconds(15));
  }

  void WriteConfig(const std::string& text) { std::ofstream(config()) << text; }
  std::string config() const { return dir_.File("daemons.yaml"); }
  std::string Pid(const std::string& name) const {
    return dir_.File(absl::StrCat("appkit-state/", name, "/", name, ".pid"));
  }
  std::string Events(const std::string& name) const { return dir_.File(name + ".events"); }

  // A daemon entry per name, each recording its events.
  std::string ThreeDaemons() const {
    std::string text;
    for (const char* name : {"demo1", "demo2", "demo3"}) {
      absl::StrAppend(&text, name, ":\n  description: the ", name,
                      " daemon\n  args:\n    events: ", Events(name), "\n");
    }
    return text;
  }

  CommandResult Run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--config", config()});
    return Ctl(args);
  }

  testing::TempDir dir_;
  std::vector<std::string> pid_files_;
};

TEST_F(DailyTest, HelpExitsZeroAndListsTheCommands) {
  for (const char* flag : {"--help", "-h", "help"}) {
    CommandResult help = Ctl({flag});
    EXPECT_EQ(help.exit_code, 0) << flag << help.err;
    for (const char* word : {"status", "start", "stop", "restart", "logs", "reload", "list"}) {
      EXPECT_TRUE(Has(help.out, word)) << flag << " lacks " << word << ": " << help.out;
    }
  }
  // --help after a command still helps, whatever else is on the line.
  EXPECT_EQ(Ctl({"status", "--help"}).exit_code, 0);
}

TEST_F(DailyTest, SeveralNamesAndAllForStartStatusStopRestart) {
  WriteConfig(ThreeDaemons());
  CommandResult start = Run({"start", "demo1", "demo2"});
  ASSERT_EQ(start.exit_code, 0) << start.err;
  EXPECT_TRUE(Has(start.out, "started demo1")) << start.out;
  EXPECT_TRUE(Has(start.out, "started demo2")) << start.out;
  EXPECT_FALSE(FileExists(Pid("demo3")));

  // Several: a table with a header; one not running makes it exit 3.
  CommandResult all = Run({"status", "--all"});
  EXPECT_EQ(all.exit_code, 3) << all.out << all.err;
  for (const char* column : {"NAME", "STATE", "PID", "UPTIME", "RESTARTS", "LAST EXIT"}) {
    EXPECT_TRUE(Has(all.out, column)) << all.out;
  }
  EXPECT_TRUE(Has(all.out, "STOPPED")) << all.out;
  EXPECT_TRUE(Has(all.out, std::to_string(ReadPid(Pid("demo1"))))) << all.out;

  // 0 once both entries run (4 while one still starts).
  CommandResult two;
  EXPECT_TRUE(WaitFor([&] {
    two = Run({"status", "demo1", "demo2", "--json"});
    return two.exit_code == 0;
  })) << two.exit_code
      << two.err;
  Json daemons = Json::parse(two.out)["daemons"];
  ASSERT_EQ(daemons.size(), 2u) << two.out;
  EXPECT_EQ(daemons[0]["name"], "demo1");
  EXPECT_EQ(daemons[1]["guardianPid"], ReadPid(Pid("demo2")));  // a number, not a string
  EXPECT_TRUE(daemons[1]["guardianPid"].is_number()) << two.out;

  CommandResult start_all = Run({"start", "--all"});
  ASSERT_EQ(start_all.exit_code, 0) << start_all.err;
  EXPECT_TRUE(Has(start_all.out, "demo1 is already running")) << start_all.out;
  EXPECT_TRUE(Has(start_all.out, "started demo3")) << start_all.out;
  EXPECT_TRUE(WaitFor([&] { return Run({"status", "--all"}).exit_code == 0; }));

  // restart: Guardian.Restart, the same guardian restarts its executor.
  const pid_t old_demo2 = ReadPid(Pid("demo2"));
  CommandResult restart = Run({"restart", "demo2"});
  ASSERT_EQ(restart.exit_code, 0) << restart.err;
  EXPECT_TRUE(Has(restart.out, "restarting daemon demo2")) << restart.out;
  EXPECT_TRUE(ProcessAlive(old_demo2));
  EXPECT_TRUE(WaitFor([&] {
    CommandResult status = Run({"status", "demo2", "--json"});
    if (status.exit_code != 0) return false;
    Json json = Json::parse(status.out);
    return json["restartCount"].get<int>() >= 1 && json["state"] == "GUARDIAN_STATE_RUNNING";
  }));
  // A stopped daemon is started by restart.
  ASSERT_EQ(Run({"stop", "demo3"}).exit_code, 0);
  CommandResult restart_stopped = Run({"restart", "demo3"});
  ASSERT_EQ(restart_stopped.exit_code, 0) << restart_stopped.err;
  EXPECT_TRUE(Has(restart_stopped.out, "started demo3")) << restart_stopped.out;

  std::vector<pid_t> guardians;
  for (const char* name : {"demo1", "demo2", "demo3"}) guardians.push_back(ReadPid(Pid(name)));
  CommandResult stop = Run({"stop", "--all"});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  for (pid_t pid : guardians) EXPECT_FALSE(ProcessAlive(pid)) << pid;
  EXPECT_EQ(Run({"status", "--all"}).exit_code, 3);
}

TEST_F(DailyTest, SeveralNamesErrorsNameTheCulprit) {
  WriteConfig(ThreeDaemons());
  CommandResult none = Run({"start"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_TRUE(Has(none.err, "start needs daemon names or --all")) << none.err;
  CommandResult both = Run({"stop", "demo1", "--all"});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_TRUE(Has(both.err, "names or --all, not both")) << both.err;
  // One unknown name among known ones: nothing is started.
  CommandResult unknown = Run({"start", "demo1", "nope"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_TRUE(Has(unknown.err, "no daemon named 'nope'")) << unknown.err;
  EXPECT_FALSE(FileExists(Pid("demo1")));
  CommandResult option = Run({"status", "--worker", "w1"});
  EXPECT_EQ(option.exit_code, 2);
  EXPECT_TRUE(Has(option.err, "--worker does not go with status")) << option.err;
  CommandResult pid_form = Ctl({"restart", "--pid-file", dir_.File("x.pid")});
  EXPECT_EQ(pid_form.exit_code, 3);
  EXPECT_TRUE(Has(pid_form.err, "not running")) << pid_form.err;
}

TEST_F(DailyTest, ListJsonHasDescriptionsAndNumericPids) {
  WriteConfig(ThreeDaemons());
  ASSERT_EQ(Run({"start", "demo1"}).exit_code, 0);
  CommandResult list = Run({"list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  Json json = Json::parse(list.out);  // JSON, not a table
  ASSERT_EQ(json["daemons"].size(), 3u);
  EXPECT_EQ(json["daemons"][0]["name"], "demo1");
  EXPECT_EQ(json["daemons"][0]["description"], "the demo1 daemon");
  EXPECT_EQ(json["daemons"][0]["running"], true);
  EXPECT_EQ(json["daemons"][0]["guardianPid"], ReadPid(Pid("demo1")));
  EXPECT_EQ(json["daemons"][1]["running"], false);
  // One JSON style: pretty (two spaces) everywhere.
  EXPECT_TRUE(Has(list.out, "{\n  \"daemons\": [\n    {\n")) << list.out;
  CommandResult table = Run({"list"});
  EXPECT_TRUE(Has(table.out, "DESCRIPTION")) << table.out;
  EXPECT_TRUE(Has(table.out, "the demo2 daemon")) << table.out;
}

TEST_F(DailyTest, PidsAreJsonNumbersInStatusAndWorkers) {
  pid_files_.push_back(dir_.File("w.pid"));
  DaemonOptions options;
  options.pid_filename = dir_.File("w.pid");
  Json pool = {{"workers",
                {{{"name", "w1"},
                  {"entry", Module() + ":run_until_quit"},
                  {"pid_filename", dir_.File("w1.pid")},
                  {"args", {{"events", dir_.File("w1.events")}}}}}}};
  options.daemon_entry = Module() + ":run_workers";
  options.daemon_args = *Args::FromJson(pool.dump());
  DaemonStartResult result = StartDaemon(options);
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
  // Exit 4 while the entry is still starting, then 0 (running and ready).
  CommandResult status;
  ASSERT_TRUE(WaitFor([&] {
    status = Ctl({"status", "--pid-file", dir_.File("w.pid"), "--json"});
    return status.exit_code == 0;
  })) << status.exit_code
      << status.err;
  EXPECT_EQ(Json::parse(status.out)["guardianPid"], *result.pid) << status.out;
  EXPECT_FALSE(Has(status.out, "Pid\": \"")) << status.out;
  ASSERT_TRUE(WaitFor([&] { return testing::PidOfEvent(dir_.File("w1.events"), "started"); }));
  CommandResult workers;
  ASSERT_TRUE(WaitFor([&] {
    workers = Ctl({"workers", "--pid-file", dir_.File("w.pid"), "--json"});
    return workers.exit_code == 0 && Has(workers.out, "RUNNING");
  })) << workers.out
      << workers.err;
  // One JSON style: pretty (two spaces) in status, workers and debug alike.
  EXPECT_EQ(status.out.rfind("{\n  \"", 0), 0u) << status.out;
  EXPECT_EQ(workers.out.rfind("{\n  \"", 0), 0u) << workers.out;
  CommandResult debug = Ctl({"debug", "--pid-file", dir_.File("w.pid")});
  ASSERT_EQ(debug.exit_code, 0) << debug.err;
  EXPECT_EQ(debug.out.rfind("{\n  \"", 0), 0u) << debug.out;
  Json worker = Json::parse(workers.out)["workers"][0];
  EXPECT_EQ(worker["current"]["pid"], testing::PidOfEvent(dir_.File("w1.events"), "started"))
      << workers.out;
}

TEST_F(DailyTest, LogsShowsTheLastLines) {
  WriteConfig(ThreeDaemons());
  ASSERT_EQ(Run({"start", "demo1"}).exit_code, 0);
  const std::string log = dir_.File("appkit-state/demo1/demo1.log");
  ASSERT_TRUE(WaitFor([&] { return Has(ReadFileOrEmpty(log), "daemon_entry running"); }));
  // The last line (the daemon may log more after the entry's line).
  CommandResult last = Run({"logs", "demo1", "-n", "1"});
  EXPECT_EQ(last.exit_code, 0) << last.err;
  EXPECT_EQ(std::count(last.out.begin(), last.out.end(), '\n'), 1) << last.out;
  EXPECT_TRUE(Has(ReadFileOrEmpty(log), last.out)) << last.out;
  CommandResult some = Run({"logs", "demo1", "-n", "50"});
  EXPECT_TRUE(Has(some.out, "daemon_entry running")) << some.out;

  // -n counts lines from the end (a file the test writes: exact lines).
  const std::string out = dir_.File("appkit-state/demo1/demo1-out.txt");
  {
    std::ofstream file(out, std::ios::trunc);
    for (int i = 1; i <= 20; ++i) file << "line " << i << "\n";
  }
  CommandResult three = Run({"logs", "demo1", "--stdout", "-n", "3"});
  EXPECT_EQ(three.exit_code, 0) << three.err;
  EXPECT_EQ(three.out, "line 18\nline 19\nline 20\n");
  EXPECT_EQ(Run({"logs", "demo1", "--stdout", "-n3"}).out, three.out);
  EXPECT_EQ(Run({"logs", "demo1", "--stdout", "-n", "0"}).out, "");

  // Errors name the culprit.
  CommandResult missing = Run({"logs", "demo2"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(Has(missing.err, "appkit-state/demo2/demo2.log")) << missing.err;
  CommandResult bad_n = Run({"logs", "demo1", "-n", "many"});
  EXPECT_EQ(bad_n.exit_code, 2);
  EXPECT_TRUE(Has(bad_n.err, "many")) << bad_n.err;
  CommandResult both = Run({"logs", "demo1", "--stdout", "--stderr"});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_TRUE(Has(both.err, "--stdout or --stderr, not both")) << both.err;
}

// `logs -f` as a background process writing to a file.
class Follower {
 public:
  Follower(const std::vector<std::string>& args, const std::string& out) {
    pid_ = fork();
    if (pid_ == 0) {
      int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      dup2(fd, STDOUT_FILENO);
      std::vector<char*> argv;
      for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~Follower() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // SIGTERM ends it; its exit status.
  int Stop() {
    kill(pid_, SIGTERM);
    return Wait();
  }
  // Its exit status, once it ended by itself (killed after 10 s).
  int Wait() {
    if (!WaitForExit(pid_, absl::Seconds(10))) kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = 0;
};

TEST_F(DailyTest, LogsFollowsAcrossALogrotateRename) {
  WriteConfig(ThreeDaemons());
  const std::string dir = dir_.File("appkit-state/demo2");
  ASSERT_EQ(mkdir(dir_.File("appkit-state").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  const std::string log = dir + "/demo2.log";
  std::ofstream(log) << "old 1\nold 2\nold 3\n";
  const std::string seen = dir_.File("follow.out");
  Follower follower({CtlPath(), "--config", config(), "logs", "demo2", "-n", "2", "-f"}, seen);
  ASSERT_TRUE(WaitFor([&] { return ReadFileOrEmpty(seen) == "old 2\nold 3\n"; }))
      << ReadFileOrEmpty(seen);
  std::ofstream(log, std::ios::app) << "appended\n";
  ASSERT_TRUE(WaitFor([&] { return Has(ReadFileOrEmpty(seen), "appended\n"); }));
  // logrotate: rename, the writer still writes to the old file, then a new one.
  ASSERT_EQ(rename(log.c_str(), (log + ".1").c_str()), 0);
  std::ofstream(log + ".1", std::ios::app) << "late in the old file\n";
  std::ofstream(log) << "first in the new file\n";
  ASSERT_TRUE(WaitFor([&] { return Has(ReadFileOrEmpty(seen), "first in the new file\n"); }))
      << ReadFileOrEmpty(seen);
  std::ofstream(log, std::ios::app) << "second in the new file\n";
  ASSERT_TRUE(WaitFor([&] { return Has(ReadFileOrEmpty(seen), "second in the new file\n"); }))
      << ReadFileOrEmpty(seen);
  EXPECT_EQ(ReadFileOrEmpty(seen),
            "old 2\nold 3\nappended\nlate in the old file\nfirst in the new file\n"
            "second in the new file\n");
  // copytruncate: the file shrinks in place; read again from its start.
  { std::ofstream truncate(log, std::ios::trunc); }
  std::ofstream(log, std::ios::app) << "after truncate\n";
  ASSERT_TRUE(WaitFor([&] { return Has(ReadFileOrEmpty(seen), "after truncate\n"); }))
      << ReadFileOrEmpty(seen);
  EXPECT_EQ(follower.Stop(), 0);
}

// A worker's stderr, as its running pool reports the file; errors name the
// daemon, the worker, the stream.
TEST_F(DailyTest, LogsOfAWorkerAndItsErrors) {
  const std::string w1 = Module() + ":run_until_quit";
  WriteConfig("demo1:\n  entry: demo1:run_workers\n  args:\n    events: " + Events("demo1") +
              "\n    workers:\n"
              "      - {name: w1, entry: \"" +
              w1 + "\", pid_filename: " + dir_.File("w1.pid") +
              ", stderr_filename: " + dir_.File("w1-err.txt") +
              ",\n"
              "         args: {events: " +
              Events("w1") +
              "}}\n"
              "      - {name: w2, entry: \"" +
              w1 + "\", pid_filename: " + dir_.File("w2.pid") +
              "}\n"
              "      - {name: w3, entry: \"" +
              w1 + "\", pid_filename: " + dir_.File("w3.pid") +
              ", stderr_filename: /dev/stderr}\n"
              "demo2:\n  args: {}\n");
  CommandResult stopped = Run({"logs", "demo1", "--worker", "w1"});
  EXPECT_EQ(stopped.exit_code, 3);
  EXPECT_TRUE(Has(stopped.err, "daemon demo1 is not running")) << stopped.err;
  ASSERT_EQ(Run({"start", "demo1"}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return testing::PidOfEvent(Events("w1"), "started") != 0; }));
  CommandResult logs;
  ASSERT_TRUE(WaitFor([&] {
    logs = Run({"logs", "demo1", "--worker", "w1", "-n", "5"});
    return logs.exit_code == 0 && Has(logs.out, "stderr line from run_until_quit");
  })) << logs.out
      << logs.err;
  CommandResult nowhere = Run({"logs", "demo1", "--worker", "w2"});
  EXPECT_EQ(nowhere.exit_code, 1);
  EXPECT_TRUE(Has(nowhere.err, "worker w2 of demo1 sends its stderr to /dev/null")) << nowhere.err;
  // A worker writing to "/dev/stderr" writes to the daemon's stderr file:
  // that file is shown (not appkitctl's own stderr), and said so.
  CommandResult shared;
  ASSERT_TRUE(WaitFor([&] {
    shared = Run({"logs", "demo1", "--worker", "w3", "-n", "50"});
    return shared.exit_code == 0 && Has(shared.out, "stderr line from run_until_quit");
  })) << shared.out
      << shared.err;
  EXPECT_TRUE(Has(shared.err, "worker w3 of demo1 sends its stderr to the daemon's stderr: "))
      << shared.err;
  CommandResult unknown = Run({"logs", "demo1", "--worker", "w9"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_TRUE(Has(unknown.err, "no worker named 'w9' (workers: w1, w2, w3)")) << unknown.err;
  CommandResult two = Run({"logs", "demo1", "demo2"});
  EXPECT_EQ(two.exit_code, 2);
  EXPECT_TRUE(Has(two.err, "logs needs one daemon name")) << two.err;
}

// -f on a file whose directory goes away ends, saying which directory.
TEST_F(DailyTest, LogsFollowEndsWhenTheDirectoryGoes) {
  WriteConfig(ThreeDaemons());
  const std::string dir = dir_.File("appkit-state/demo3");
  ASSERT_EQ(mkdir(dir_.File("appkit-state").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  std::ofstream(dir + "/demo3.log") << "one\n";
  const std::string seen = dir_.File("follow.out");
  const std::string err = dir_.File("follow.err");
  Follower follower({"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>" + err, CtlPath(), "--config",
                     config(), "logs", "demo3", "-f"},
                    seen);
  ASSERT_TRUE(WaitFor([&] { return ReadFileOrEmpty(seen) == "one\n"; }));
  ASSERT_EQ(rename(dir.c_str(), dir_.File("moved").c_str()), 0);
  EXPECT_EQ(follower.Wait(), 1);
  EXPECT_TRUE(Has(ReadFileOrEmpty(err), "directory " + dir + " was removed or moved"))
      << ReadFileOrEmpty(err);
}

TEST_F(DailyTest, ReloadStartsAddedStopsRemovedRestartsChanged) {
  WriteConfig("demo1:\n  args: {events: " + Events("demo1") +
              ", x: 1}\n"
              "demo2:\n  args: {events: " +
              Events("demo2") + "}\n");
  ASSERT_EQ(Run({"start", "--all"}).exit_code, 0);
  const pid_t demo1 = ReadPid(Pid("demo1")), demo2 = ReadPid(Pid("demo2"));
  ASSERT_GT(demo1, 0);
  ASSERT_GT(demo2, 0);

  CommandResult same = Run({"reload"});
  EXPECT_EQ(same.exit_code, 0) << same.err;
  EXPECT_TRUE(Has(same.out, "demo1: unchanged")) << same.out;
  EXPECT_EQ(ReadPid(Pid("demo1")), demo1);

  // demo1 changed (args), demo2 removed, demo3 added.
  WriteConfig("demo1:\n  args: {events: " + Events("demo1") +
              ", x: 2}\n"
              "demo3:\n  args: {events: " +
              Events("demo3") + "}\n");
  CommandResult reload = Run({"reload"});
  EXPECT_EQ(reload.exit_code, 0) << reload.err;
  EXPECT_TRUE(Has(reload.out, "demo2: removed from the file: stopping")) << reload.out;
  EXPECT_TRUE(Has(reload.out, "demo1: changed: args: restarting")) << reload.out;
  EXPECT_TRUE(Has(reload.out, "demo3: added: starting")) << reload.out;
  EXPECT_FALSE(ProcessAlive(demo2));
  EXPECT_FALSE(ProcessAlive(demo1));
  const pid_t new_demo1 = ReadPid(Pid("demo1"));
  EXPECT_GT(new_demo1, 0);
  EXPECT_NE(new_demo1, demo1);
  EXPECT_TRUE(WaitFor([&] { return Run({"status", "--all"}).exit_code == 0; }));
  EXPECT_EQ(
      Json::parse(ReadFileOrEmpty(dir_.File("appkit-state/demo1/demo1.applied.json")))["args"]["x"],
      2);

  // Again: nothing to do.
  CommandResult again = Run({"reload"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_FALSE(Has(again.out, "restarting")) << again.out;
  EXPECT_FALSE(Has(again.out, "starting")) << again.out;
  EXPECT_EQ(ReadPid(Pid("demo1")), new_demo1);

  // A broken file changes nothing, and says where it is broken.
  WriteConfig("demo1:\n  args: {x: 3}\n  bogus_key: 1\n");
  CommandResult broken = Run({"reload"});
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_TRUE(Has(broken.err, config() + ":3")) << broken.err;
  EXPECT_TRUE(Has(broken.err, "bogus_key")) << broken.err;
  EXPECT_EQ(ReadPid(Pid("demo1")), new_demo1);
  EXPECT_TRUE(ProcessAlive(ReadPid(Pid("demo3"))));
}

// A mordor deployment: $ENV_HOME/apps/<app>/current/daemons.yaml, unchanged.
class MordorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = dir_.path();
    for (const char* sub : {"apps", "apps/shop", "apps/shop/current", "data", "data/shop"}) {
      ASSERT_EQ(mkdir(dir_.File(sub).c_str(), 0755), 0) << sub;
    }
    ASSERT_EQ(symlink(Module().c_str(), dir_.File("apps/shop/current/libfront.so").c_str()), 0);
    setenv("ENV_HOME", home_.c_str(), 1);
  }
  void TearDown() override {
    if (pid_t pid = ReadPid(home_ + "/pids/shop/front.pid"); pid > 0 && ProcessAlive(pid)) {
      kill(pid, SIGTERM);
      WaitForExit(pid, absl::Seconds(15));
    }
    unsetenv("ENV_HOME");
  }
  std::string config() const { return dir_.File("apps/shop/current/daemons.yaml"); }
  CommandResult Run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--config", config(), "--layout", "mordor"});
    return Ctl(args);
  }

  testing::TempDir dir_;
  std::string home_;
};

TEST_F(MordorTest, AMordorFileRunsUnchanged) {
  // No entry (front:daemon_entry), a description, {{ name }} values,
  // PyYAML scalars, and app_name/daemon_name replaced by mordor's.
  std::ofstream(config()) << "front:\n"
                             "  description: the shop's front end\n"
                             "  args:\n"
                             "    events: \"{{ data_dir }}/front.events\"\n"
                             "    logs: {{log_dir}}\n"
                             "    verbose: yes\n"
                             "    cache: off\n"
                             "    nothing: ~\n"
                             "    mode: 0o17\n"
                             "    perms: 017\n"
                             "    ratio: 1.5\n"
                             "    app_name: not this\n"
                             "  restart_interval_seconds: 5\n";
  CommandResult list = Run({"list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(Json::parse(list.out)["daemons"][0]["description"], "the shop's front end");
  CommandResult start = Run({"start", "front"});
  ASSERT_EQ(start.exit_code, 0) << start.err;
  // Files where mordor puts them.
  const std::string pid = home_ + "/pids/shop/front.pid";
  EXPECT_TRUE(FileExists(pid));
  ASSERT_TRUE(WaitFor(
      [&] { return testing::PidOfEvent(home_ + "/data/shop/front.events", "started") != 0; }));
  const std::string log = home_ + "/logs/shop/front.log";
  ASSERT_TRUE(WaitFor([&] { return Has(ReadFileOrEmpty(log), "daemon_entry running"); }))
      << ReadFileOrEmpty(log) << ReadFileOrEmpty(home_ + "/logs/shop/front-err.txt");
  Json applied = Json::parse(ReadFileOrEmpty(home_ + "/pids/shop/front.applied.json"));
  Json args = applied["args"];
  EXPECT_EQ(args["app_name"], "shop");
  EXPECT_EQ(args["daemon_name"], "front");
  EXPECT_EQ(args["events"], home_ + "/data/shop/front.events");
  EXPECT_EQ(args["logs"], home_ + "/logs/shop");
  EXPECT_EQ(args["verbose"], true);
  EXPECT_EQ(args["cache"], false);
  EXPECT_TRUE(args["nothing"].is_null());
  EXPECT_EQ(args["mode"], "0o17");
  EXPECT_EQ(args["perms"], 15);
  EXPECT_EQ(args["ratio"], 1.5);
  EXPECT_EQ(applied["entry"], "front:daemon_entry");
  EXPECT_EQ(applied["restart_interval_seconds"], 5);
  // The entry got those args (it logs them).
  EXPECT_TRUE(Has(ReadFileOrEmpty(log), "\"daemon_name\":\"front\"")) << ReadFileOrEmpty(log);
  EXPECT_TRUE(WaitFor([&] { return Run({"status", "front"}).exit_code == 0; }));
  // --app overrides the name from the directory.
  CommandResult other = Run({"--app", "other", "status", "front"});
  EXPECT_EQ(other.exit_code, 3);
  EXPECT_TRUE(Has(other.err, home_ + "/pids/other/front.pid")) << other.err;
  EXPECT_EQ(Run({"stop", "front"}).exit_code, 0);
  EXPECT_FALSE(FileExists(pid));
}

TEST_F(MordorTest, TemplateAndLayoutErrorsNameTheCulprit) {
  std::ofstream(config()) << "front:\n  args:\n    x: \"{{ data_dir | upper }}\"\n";
  CommandResult filter = Run({"list"});
  EXPECT_EQ(filter.exit_code, 1);
  EXPECT_TRUE(Has(filter.err, config() + ":3")) << filter.err;
  EXPECT_TRUE(Has(filter.err, "data_dir | upper")) << filter.err;

  std::ofstream(config()) << "front:\n  args: {}\n{% if x %}\n";
  CommandResult statement = Run({"list"});
  EXPECT_EQ(statement.exit_code, 1);
  EXPECT_TRUE(Has(statement.err, config() + ":3")) << statement.err;

  std::ofstream(config()) << "front:\n  args:\n\n    x: {{ nope }}\n";
  CommandResult unknown = Run({"list"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_TRUE(Has(unknown.err, config() + ":4")) << unknown.err;
  EXPECT_TRUE(Has(unknown.err, "nope")) << unknown.err;

  std::ofstream(config()) << "front:\n  args: {}\n";
  unsetenv("ENV_HOME");
  CommandResult no_home = Run({"list"});
  EXPECT_EQ(no_home.exit_code, 1);
  EXPECT_TRUE(Has(no_home.err, "ENV_HOME")) << no_home.err;
  setenv("ENV_HOME", home_.c_str(), 1);
  CommandResult layout = Ctl({"--config", config(), "--layout", "upside-down", "list"});
  EXPECT_EQ(layout.exit_code, 1);
  EXPECT_TRUE(Has(layout.err, "upside-down")) << layout.err;
}

}  // namespace
}  // namespace appkit
