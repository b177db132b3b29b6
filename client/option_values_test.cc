// Odd option values through the public API (issue 11, item 11): absurd
// durations, strings that are not UTF-8 (a path, a name, an args value)
// and args nested too deep are refused by StartDaemon (kLaunchFailed) and
// StartWorkers (InvalidArgument) before anything starts, naming the option
// and showing the value escaped; the largest values allowed work.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/appkit.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::CommandResult;
using ::appkit::testing::PidOfEvent;
using ::appkit::testing::ProcessAlive;
using ::appkit::testing::WaitFor;
using ::appkit::testing::WaitForExit;
using Json = nlohmann::json;

constexpr absl::Duration kYear = absl::Hours(24 * 365);

std::string Module() { return testing::RunfilePath("testing/libtest_module.so"); }

std::set<std::string> Listing(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    names.insert(entry.path());
  }
  return names;
}

// A Struct nested `depth` objects deep (the outer one counting).
google::protobuf::Struct Nested(int depth) {
  google::protobuf::Struct outer;
  google::protobuf::Struct* inner = &outer;
  for (int i = 1; i < depth; ++i) inner = (*inner->mutable_fields())["a"].mutable_struct_value();
  return outer;
}

class OptionValuesTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (pid_t pid : guardians_) {
      if (ProcessAlive(pid)) {
        kill(pid, SIGTERM);
        WaitForExit(pid, absl::Seconds(15));
      }
    }
  }

  DaemonOptions Daemon() {
    DaemonOptions options;
    options.pid_filename = dir_.File("d.pid");
    options.daemon_entry = Module() + ":run_until_quit";
    options.daemon_args.Set("events", dir_.File("events"));
    options.stderr_filename = dir_.File("err.txt");
    return options;
  }

  WorkerStartInfo Worker(const std::string& name) {
    WorkerStartInfo worker;
    worker.name = name;
    worker.entry = Module() + ":run_until_quit";
    worker.pid_filename = dir_.File(name + ".pid");
    return worker;
  }

  // StartDaemon fails naming every part of `culprits`, creating nothing.
  void ExpectLaunchFailed(const DaemonOptions& options, const std::vector<std::string>& culprits) {
    const std::set<std::string> before = Listing(dir_.path());
    DaemonStartResult result = StartDaemon(options);
    if (result.pid) reaper_.Track(*result.pid);
    EXPECT_EQ(result.status, DaemonRunStatus::kLaunchFailed) << culprits[0];
    for (const std::string& culprit : culprits) {
      EXPECT_TRUE(absl::StrContains(result.error, culprit))
          << "error '" << result.error << "' does not name '" << culprit << "'";
    }
    EXPECT_EQ(Listing(dir_.path()), before) << culprits[0] << ": left something behind";
  }

  void ExpectInvalidPool(const std::vector<WorkerStartInfo>& workers, const WorkersOptions& options,
                         const std::vector<std::string>& culprits) {
    absl::Status status = StartWorkers(workers, options);
    EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
    for (const std::string& culprit : culprits) {
      EXPECT_TRUE(absl::StrContains(status.message(), culprit))
          << "error '" << status.message() << "' does not name '" << culprit << "'";
    }
    EXPECT_TRUE(Listing(dir_.path()).empty()) << culprits[0];
  }

  testing::TempDir dir_;
  testing::ProcessReaper reaper_;
  std::vector<pid_t> guardians_;
};

TEST_F(OptionValuesTest, StartDaemonRefusesDurationsOverAYear) {
  for (absl::Duration bad : {kYear + absl::Seconds(1), absl::Seconds(1e300),
                             absl::Seconds(9223372036854775807.0), absl::InfiniteDuration()}) {
    DaemonOptions options = Daemon();
    options.restart_interval = bad;
    ExpectLaunchFailed(options, {"DaemonOptions.restart_interval", "longer than the maximum"});
    options = Daemon();
    options.stop_timeout = bad;
    ExpectLaunchFailed(options, {"DaemonOptions.stop_timeout", "longer than the maximum"});
  }
}

// The largest values allowed run, and the daemon's status (which carries
// restart_interval) prints as JSON.
TEST_F(OptionValuesTest, ADaemonWithDurationsOfAYearRunsAndReportsThem) {
  DaemonOptions options = Daemon();
  options.restart_interval = kYear;
  options.stop_timeout = kYear;
  DaemonStartResult result = StartDaemon(options);
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
  guardians_.push_back(*result.pid);
  reaper_.Track(*result.pid);
  ASSERT_TRUE(WaitFor([&] { return PidOfEvent(dir_.File("events"), "started") != 0; }));
  reaper_.Track(PidOfEvent(dir_.File("events"), "started"));
  // Exit 0 once the guardian has heard the entry runs (4 while STARTING:
  // the entry's mark may come first).
  CommandResult status;
  EXPECT_TRUE(WaitFor([&] {
    status = testing::RunCommand({testing::RunfilePath("client/appkitctl"), "status", "--pid-file",
                                  options.pid_filename, "--json"});
    return status.exit_code == 0;
  })) << status.exit_code
      << " " << status.err;
  ASSERT_TRUE(Json::accept(status.out)) << "'" << status.out << "'";
  EXPECT_EQ(Json::parse(status.out)["restartInterval"], "31536000s");
}

TEST_F(OptionValuesTest, StartWorkersRefusesDurationsOverAYear) {
  // The unnamed second worker makes a pool that slips through fail at
  // once (instead of running until quit).
  const std::vector<WorkerStartInfo> workers = {Worker("w"), Worker("")};
  for (absl::Duration bad :
       {kYear + absl::Seconds(1), absl::Seconds(1e300), absl::InfiniteDuration()}) {
    WorkersOptions options;
    options.restart_interval = bad;
    ExpectInvalidPool(workers, options, {"WorkersOptions.restart_interval"});
    options = WorkersOptions();
    options.stop_timeout = bad;
    ExpectInvalidPool(workers, options, {"WorkersOptions.stop_timeout"});
    options = WorkersOptions();
    options.check_interval = bad;
    ExpectInvalidPool(workers, options, {"WorkersOptions.check_interval"});
  }
}

TEST_F(OptionValuesTest, StartDaemonRefusesPathsThatAreNotUtf8NamingOptionAndPath) {
  const std::string bad = dir_.File("caf\xe9\n");  // Latin-1, and a newline
  const std::string shown = dir_.path() + "/caf\\xe9\\n";
  struct Case {
    std::function<void(DaemonOptions&)> spoil;
    std::string option;
  };
  const std::vector<Case> cases = {
      {[&](DaemonOptions& o) { o.pid_filename = bad + ".pid"; }, "DaemonOptions.pid_filename"},
      {[&](DaemonOptions& o) { o.stdout_filename = bad + ".out"; },
       "DaemonOptions.stdout_filename"},
      {[&](DaemonOptions& o) { o.stderr_filename = bad + ".err"; },
       "DaemonOptions.stderr_filename"},
      {[&](DaemonOptions& o) { o.control_socket = bad + ".sock"; }, "DaemonOptions.control_socket"},
      {[&](DaemonOptions& o) { o.daemon_entry = bad + "/libm.so:main"; },
       "DaemonOptions.daemon_entry"},
      {[&](DaemonOptions& o) {
         o.logging_config = *LoggingConfigFromJson(
             R"({"handlers": [{"stderr": {}}, {"file": {"filename": "x"}}]})");
         o.logging_config->mutable_handlers(1)->mutable_file()->set_filename(bad + ".log");
       },
       "DaemonOptions.logging_config.handlers[1].file.filename"},
      {[&](DaemonOptions& o) { o.daemon_args.Set("path", bad); },
       "DaemonOptions.daemon_args[\"path\"]"},
  };
  for (const Case& c : cases) {
    DaemonOptions options = Daemon();
    c.spoil(options);
    ExpectLaunchFailed(options, {c.option, shown, "not valid UTF-8"});
  }
}

// A module found through APPKIT_MODULE_PATH in a directory whose name is
// not UTF-8: the found path is named.
TEST_F(OptionValuesTest, StartDaemonRefusesAModuleFoundInADirectoryThatIsNotUtf8) {
  const std::string modules = dir_.File("mod\xff");
  std::filesystem::create_directory(modules);
  std::filesystem::copy_file(Module(), modules + "/libtest_module.so");
  const char* old = getenv("APPKIT_MODULE_PATH");
  const std::string saved = old ? old : "";
  setenv("APPKIT_MODULE_PATH", modules.c_str(), 1);
  DaemonOptions options = Daemon();
  options.daemon_entry = "test_module:run_until_quit";
  ExpectLaunchFailed(options, {"DaemonLaunch.resolved_entry", dir_.path() + "/mod\\xff/"});
  if (old) {
    setenv("APPKIT_MODULE_PATH", saved.c_str(), 1);
  } else {
    unsetenv("APPKIT_MODULE_PATH");
  }
}

TEST_F(OptionValuesTest, StartWorkersRefusesStringsThatAreNotUtf8) {
  const std::string bad = dir_.File("\xff");
  const std::string shown = dir_.path() + "/\\xff";
  struct Case {
    std::function<void(WorkerStartInfo&)> spoil;
    std::vector<std::string> culprits;
  };
  const std::vector<Case> cases = {
      {[](WorkerStartInfo& w) { w.name = "w\xff"; }, {"WorkerStartInfo.name", "\"w\\xff\""}},
      {[&](WorkerStartInfo& w) { w.pid_filename = bad + ".pid"; },
       {"worker 'w': WorkerStartInfo.pid_filename", shown}},
      {[&](WorkerStartInfo& w) { w.stdout_filename = bad + ".out"; },
       {"worker 'w': WorkerStartInfo.stdout_filename", shown}},
      {[&](WorkerStartInfo& w) { w.stderr_filename = bad + ".err"; },
       {"worker 'w': WorkerStartInfo.stderr_filename", shown}},
      {[&](WorkerStartInfo& w) { w.entry = bad + "/libm.so:main"; },
       {"worker 'w': WorkerStartInfo.entry", shown}},
      {[&](WorkerStartInfo& w) {
         w.logging_config =
             *LoggingConfigFromJson(R"({"handlers": [{"file": {"filename": "x"}}]})");
         w.logging_config->mutable_handlers(0)->mutable_file()->set_filename(bad + ".log");
       },
       {"worker 'w': WorkerStartInfo.logging_config.handlers[0].file.filename", shown}},
      {[&](WorkerStartInfo& w) { w.args.Set("k", bad); },
       {"worker 'w': WorkerStartInfo.args[\"k\"]", shown}},
  };
  for (const Case& c : cases) {
    WorkerStartInfo worker = Worker("w");
    c.spoil(worker);
    ExpectInvalidPool({Worker("ok"), worker, Worker("")}, WorkersOptions(), c.culprits);
  }
  WorkersOptions options;
  options.debug_filename = bad + ".json";
  ExpectInvalidPool({Worker("w"), Worker("")}, options, {"WorkersOptions.debug_filename", shown});
}

// Args built by hand (Args(Struct), mutable_proto) deeper than FromJson
// allows: they would not survive protobuf's limits on the way.
TEST_F(OptionValuesTest, ArgsNestedTooDeepAreRefused) {
  DaemonOptions options = Daemon();
  *options.daemon_args.mutable_proto() = Nested(1000);
  ExpectLaunchFailed(options, {"DaemonOptions.daemon_args[\"a\"]", "deeper than 32"});
  WorkerStartInfo worker = Worker("w");
  worker.args = Args(Nested(kMaxArgsDepth + 1));
  ExpectInvalidPool({worker, Worker("")}, WorkersOptions(),
                    {"WorkerStartInfo.args[\"a\"]", "deeper than 32"});
}

}  // namespace
}  // namespace appkit
