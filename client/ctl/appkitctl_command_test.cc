// appkitctl --config with command daemons (SPEC §10): a daemons.yaml
// `command` string, `env_file`, `environment` and `working_directory`
// reach the real program; a missing program is an error naming it before
// anything starts; env_file errors name file:line. What a program says
// with sd_notify STATUS= is shown by `status` and `workers` (text and JSON),
// the same from the status snapshot files as over the sockets.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::CommandResult;
using ::appkit::testing::FileExists;
using ::appkit::testing::LinesWithPrefix;
using ::appkit::testing::ReadFileOrEmpty;
using ::appkit::testing::WaitFor;

std::string Program() { return testing::RunfilePath("testing/notify_program"); }

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The line of `table` whose first column is `first`, split on blanks.
std::vector<std::string> Row(const std::string& table, const std::string& first) {
  for (absl::string_view line : absl::StrSplit(table, '\n')) {
    std::vector<std::string> columns = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (!columns.empty() && columns[0] == first) return columns;
  }
  return {};
}

class AppkitctlCommandTest : public ::testing::Test {
 protected:
  void TearDown() override { Ctl({"stop", "--all"}); }

  CommandResult Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {testing::RunfilePath("client/appkitctl"), "--config", config()});
    return testing::RunCommand(args);
  }
  std::string config() const { return dir_.File("daemons.yaml"); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_.File(name), std::ios::trunc) << text;
  }

  testing::TempDir dir_;
};

TEST_F(AppkitctlCommandTest, StartsAProgramWithItsEnvironmentAndDirectoryAndStopsIt) {
  ASSERT_EQ(mkdir(dir_.File("work").c_str(), 0700), 0);
  Write("app.env", "# the app's\nAPPKIT_TEST_VAR=from file\n");
  Write("daemons.yaml", absl::StrCat("web:\n"
                                     "  command: '",
                                     testing::RunfilePath("testing/notify_program"), " --record ",
                                     dir_.File("record.txt"),
                                     " --status \"up and running\"'\n"
                                     "  env_file: app.env\n"
                                     "  environment: {OTHER: x}\n"
                                     "  working_directory: work\n"));
  CommandResult start = Ctl({"start", "web"});
  ASSERT_EQ(start.exit_code, 0) << start.out << start.err;
  ASSERT_TRUE(
      WaitFor([&] { return !LinesWithPrefix(dir_.File("record.txt"), "started").empty(); }));
  const std::string line = LinesWithPrefix(dir_.File("record.txt"), "started")[0];
  EXPECT_NE(line.find(absl::StrCat(" cwd=", dir_.File("work"), " var=from file notify=yes")),
            std::string::npos)
      << line;
  CommandResult status = Ctl({"status", "web", "--json"});
  EXPECT_NE(status.out.find("notify_program --record"), std::string::npos) << status.out;
  CommandResult stop = Ctl({"stop", "web"});
  ASSERT_EQ(stop.exit_code, 0) << stop.out << stop.err;
  EXPECT_EQ(LinesWithPrefix(dir_.File("record.txt"), "sigterm").size(), 1u)
      << ReadFileOrEmpty(dir_.File("record.txt"));
}

TEST_F(AppkitctlCommandTest, AMissingProgramIsNamedAndNothingStarts) {
  Write("daemons.yaml", "web:\n  command: no-such-program-xyz --flag\n");
  CommandResult start = Ctl({"start", "web"});
  EXPECT_NE(start.exit_code, 0);
  EXPECT_NE((start.out + start.err).find("no-such-program-xyz"), std::string::npos)
      << start.out << start.err;
  EXPECT_FALSE(FileExists(dir_.File("appkit-state/web/web.pid")));
}

TEST_F(AppkitctlCommandTest, AnEnvFileErrorNamesFileAndLine) {
  Write("app.env", "A=1\nB='open\n");
  Write("daemons.yaml", "web:\n  command: /bin/true\n  env_file: app.env\n");
  CommandResult list = Ctl({"list"});
  EXPECT_NE(list.exit_code, 0);
  EXPECT_NE(list.err.find(dir_.File("app.env") + ":2: unterminated '"), std::string::npos)
      << list.out << list.err;
}

TEST_F(AppkitctlCommandTest, StatusShowsTheProgramsNotifyStatusFromTheFileAndTheSocket) {
  Write("daemons.yaml",
        absl::StrCat("web:\n  command: '", Program(), " --status \"up and running\"'\n"));
  ASSERT_EQ(Ctl({"start", "web"}).exit_code, 0);
  const std::string snapshot = dir_.File("appkit-state/web/web.pid.status");
  // First from the snapshot file (the guardian rewrites it on STATUS=),
  // then, with the file gone, over the control socket.
  for (const bool file : {true, false}) {
    if (!file) {
      ASSERT_EQ(unlink(snapshot.c_str()), 0);
    }
    CommandResult text;
    EXPECT_TRUE(WaitFor([&] {
      text = Ctl({"status", "web"});
      return !Row(text.out, "status").empty();  // the entry row shows the text too
    })) << (file ? "file: " : "socket: ")
        << text.out << text.err;
    const std::vector<std::string> row = Row(text.out, "status");
    EXPECT_EQ(absl::StrJoin(row, " "), "status up and running") << text.out;
    CommandResult json = Ctl({"status", "web", "--json"});
    EXPECT_TRUE(Has(json.out, "\"notifyStatus\": \"up and running\"")) << json.out;
  }
  EXPECT_FALSE(FileExists(snapshot)) << "the socket answered the second time";
}

TEST_F(AppkitctlCommandTest, WorkersShowTheirNotifyStatusInALastColumn) {
  const std::string module = testing::RunfilePath("testing/libtest_module.so");
  Write("daemons.yaml",
        absl::StrCat("pool:\n  entry: ", module, ":run_workers\n  args:\n    workers:\n",
                     "      - {name: w1, pid_filename: ", dir_.File("w1.pid"), ", command: [",
                     Program(), ", --status, \"serving 3 clients\"]}\n",
                     "      - {name: w2, pid_filename: ", dir_.File("w2.pid"), ", command: [",
                     Program(), "]}\n"));
  CommandResult start = Ctl({"start", "pool"});
  ASSERT_EQ(start.exit_code, 0) << start.out << start.err;
  const std::string snapshot = dir_.File("appkit-state/pool/pool.pid.workers.status");
  for (const bool file : {true, false}) {
    if (!file) {
      ASSERT_EQ(unlink(snapshot.c_str()), 0);
    }
    CommandResult text;
    EXPECT_TRUE(WaitFor([&] {
      text = Ctl({"workers", "pool"});
      return Has(text.out, "serving 3 clients") && Row(text.out, "w2").size() >= 7;
    })) << (file ? "file: " : "socket: ")
        << text.out << text.err;
    EXPECT_EQ(Row(text.out, "NAME").back(), "STATUS") << text.out;
    // Columns 1-5 are where they were: name, state, pid, uptime, restarts.
    const std::vector<std::string> w1 = Row(text.out, "w1");
    ASSERT_GE(w1.size(), 8u) << text.out;
    EXPECT_EQ(w1[1], "RUNNING") << text.out;
    EXPECT_EQ(w1[2] + "\n", ReadFileOrEmpty(dir_.File("w1.pid"))) << text.out;
    EXPECT_EQ(w1[4], "0") << text.out;
    EXPECT_EQ(absl::StrJoin(w1.end() - 3, w1.end(), " "), "serving 3 clients") << text.out;
    EXPECT_EQ(Row(text.out, "w2").back(), "-") << text.out;
    CommandResult json = Ctl({"workers", "pool", "--json"});
    EXPECT_TRUE(Has(json.out, "\"notifyStatus\": \"serving 3 clients\"")) << json.out;
  }
  EXPECT_FALSE(FileExists(snapshot)) << "the socket answered the second time";
}

// `worker add` (SPEC §9) with a program: its command, --env and
// --working-directory reach it; a missing program is refused naming it and
// nothing is added.
TEST_F(AppkitctlCommandTest, WorkerAddRunsAProgramInTheRunningPool) {
  const std::string module = testing::RunfilePath("testing/libtest_module.so");
  Write("daemons.yaml",
        absl::StrCat("pool:\n  entry: ", module, ":run_workers\n  args:\n    workers:\n",
                     "      - {name: w1, pid_filename: ", dir_.File("w1.pid"), ", command: [",
                     Program(), "]}\n"));
  ASSERT_EQ(Ctl({"start", "pool"}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] {
    const std::vector<std::string> w1 = Row(Ctl({"workers", "pool"}).out, "w1");
    return w1.size() > 2 && w1[1] == "RUNNING";
  })) << Ctl({"workers", "pool"}).err;
  ASSERT_EQ(mkdir(dir_.File("work").c_str(), 0700), 0);
  const std::string record = dir_.File("w2.record");
  CommandResult add = Ctl({"worker", "add", "pool", "w2", "--worker-pid-file", dir_.File("w2.pid"),
                           "--env", "APPKIT_TEST_VAR=from the cli", "--working-directory",
                           dir_.File("work"), "--", Program(), "--record", record});
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_TRUE(Has(add.out, "worker w2: added (index 1)")) << add.out;
  std::vector<std::string> w2;
  EXPECT_TRUE(WaitFor([&] {
    w2 = Row(Ctl({"workers", "pool"}).out, "w2");
    return w2.size() > 2 && w2[1] == "RUNNING";
  })) << Ctl({"workers", "pool"}).out;
  ASSERT_TRUE(WaitFor([&] { return !LinesWithPrefix(record, "started").empty(); }));
  EXPECT_EQ(LinesWithPrefix(record, "started")[0],
            absl::StrCat("started pid=", w2.size() > 2 ? w2[2] : "?", " cwd=", dir_.File("work"),
                         " var=from the cli notify=yes"));

  CommandResult missing = Ctl({"worker", "add", "pool", "w3", "--worker-pid-file",
                               dir_.File("w3.pid"), "--", "no-such-program-xyz", "--flag"});
  EXPECT_EQ(missing.exit_code, 1) << missing.out << missing.err;
  EXPECT_TRUE(Has(missing.err, "worker 'w3': ")) << missing.err;
  EXPECT_TRUE(Has(missing.err, "no-such-program-xyz")) << missing.err;
  // Usage errors, before anything is asked of the pool.
  CommandResult no_pid = Ctl({"worker", "add", "pool", "w3", "--", Program()});
  EXPECT_EQ(no_pid.exit_code, 2);
  EXPECT_TRUE(Has(no_pid.err, "--worker-pid-file")) << no_pid.err;
  CommandResult both = Ctl({"worker", "add", "pool", "w3", "--worker-pid-file", dir_.File("w3.pid"),
                            "--entry", module + ":run_until_quit", "--", Program()});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_TRUE(Has(both.err, "not both")) << both.err;
  CommandResult wrong_verb = Ctl({"worker", "start", "pool", "w1", "--env", "A=1"});
  EXPECT_EQ(wrong_verb.exit_code, 2);
  EXPECT_TRUE(Has(wrong_verb.err, "--env goes with worker add")) << wrong_verb.err;
  CommandResult bad_env = Ctl({"worker", "add", "pool", "w3", "--env", "novalue"});
  EXPECT_EQ(bad_env.exit_code, 2);
  EXPECT_TRUE(Has(bad_env.err, "--env takes KEY=VALUE, got 'novalue'")) << bad_env.err;
  // Nothing was added.
  CommandResult list = Ctl({"workers", "pool"});
  EXPECT_TRUE(Row(list.out, "w3").empty()) << list.out;
  EXPECT_FALSE(FileExists(dir_.File("w3.pid")));
}

}  // namespace
}  // namespace appkit
