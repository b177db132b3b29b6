// The status snapshot files (issue 17): the guardian and the controller
// keep them current beside the pid file and the controller socket,
// private (0600), removed on exit; appkitctl status / workers read them
// without an RPC, and refuse any file it cannot trust (another owner, an
// open mode, a symlink, another guardian's), asking over the socket then.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "client/appkit.h"
#include "common/base/fd_io.h"
#include "common/base/status_file.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "proto/controller.pb.h"
#include "proto/guardian.pb.h"
#include "proto/status_file.pb.h"
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

CommandResult Ctl(std::vector<std::string> args) {
  args.insert(args.begin(), testing::RunfilePath("client/appkitctl"));
  return testing::RunCommand(args);
}

class StatusFileTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (guardian_ > 0 && ProcessAlive(guardian_)) {
      kill(guardian_, SIGTERM);
      WaitForExit(guardian_, absl::Seconds(15));
    }
  }

  // A daemon running a pool of two workers.
  void Start() {
    DaemonOptions options;
    options.pid_filename = pid_file();
    Json pool = {{"events", dir_.File("pool.events")}, {"workers", Json::array()}};
    for (const char* name : {"w1", "w2"}) {
      pool["workers"].push_back({{"name", name},
                                 {"entry", Module() + ":run_until_quit"},
                                 {"pid_filename", dir_.File(std::string(name) + ".pid")},
                                 {"args", {{"events", dir_.File(std::string(name) + ".events")}}}});
    }
    options.daemon_entry = Module() + ":run_workers";
    options.daemon_args = *Args::FromJson(pool.dump());
    options.stderr_filename = dir_.File("d.err");
    options.restart_interval = absl::Milliseconds(1);
    DaemonStartResult result = StartDaemon(options);
    ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
    guardian_ = *result.pid;
    reaper_.Track(guardian_);
    ASSERT_TRUE(WaitFor([&] { return Workers().workers_size() == 2 && AllRunning(Workers()); }))
        << ReadFileOrEmpty(dir_.File("d.err"));
  }

  static bool AllRunning(const v1::ListWorkersResponse& list) {
    for (const v1::WorkerStatus& worker : list.workers()) {
      if (worker.state() != v1::WORKER_STATE_RUNNING) return false;
    }
    return true;
  }

  v1::GuardianStatusFile GuardianFile() {
    v1::GuardianStatusFile file;
    file.ParseFromString(ReadStatusFile(status_file(), geteuid(), "test").value_or(""));
    return file;
  }
  v1::GuardianStatus Guardian() { return GuardianFile().status(); }
  v1::ListWorkersResponse Workers() {
    v1::ListWorkersResponse list;
    list.ParseFromString(ReadStatusFile(workers_file(), geteuid(), "test").value_or(""));
    return list;
  }

  // Replaces `path` as a writer would (a private file renamed over it).
  void Plant(const std::string& path, const std::string& content, mode_t mode = 0600) {
    const std::string temp = path + ".planted";
    int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(WriteAll(fd, StatusFileBytes(content)).ok());
    ASSERT_EQ(fchmod(fd, mode), 0);
    close(fd);
    ASSERT_EQ(rename(temp.c_str(), path.c_str()), 0);
  }

  int RestartCountShown() {
    CommandResult json = Ctl({"status", "--pid-file", pid_file(), "--json"});
    EXPECT_EQ(json.exit_code, 0) << json.err;
    return Json::parse(json.out, nullptr, false).value("restartCount", -1);
  }

  std::string WorkersShown() {
    CommandResult table = Ctl({"workers", "--pid-file", pid_file()});
    EXPECT_EQ(table.exit_code, 0) << table.err;
    return table.out;
  }

  std::string pid_file() const { return dir_.File("d.pid"); }
  std::string status_file() const { return dir_.File("d.pid.status"); }
  std::string workers_file() const { return dir_.File("d.pid.workers.status"); }

  testing::TempDir dir_;
  testing::ProcessReaper reaper_;
  pid_t guardian_ = 0;
};

TEST_F(StatusFileTest, KeptCurrentAtEachTransitionPrivateAndRemovedOnExit) {
  Start();
  v1::GuardianStatus status = Guardian();
  EXPECT_EQ(status.guardian_pid(), guardian_);
  EXPECT_EQ(status.state(), v1::GUARDIAN_STATE_RUNNING);
  for (const std::string& path : {status_file(), workers_file()}) {
    struct stat st;
    ASSERT_EQ(lstat(path.c_str(), &st), 0) << path;
    EXPECT_TRUE(S_ISREG(st.st_mode)) << path;
    EXPECT_EQ(st.st_mode & 07777, 0600u) << path;
    EXPECT_EQ(st.st_uid, geteuid()) << path;
  }

  // A worker is killed (this pool does not restart it): the file says so
  // at once, and appkitctl shows it.
  const pid_t w1 = static_cast<pid_t>(Workers().workers(0).current().pid());
  ASSERT_GT(w1, 0);
  reaper_.Track(w1);
  ASSERT_EQ(kill(w1, SIGKILL), 0);
  ASSERT_TRUE(WaitFor([&] {
    v1::ListWorkersResponse list = Workers();
    return list.workers_size() == 2 && list.workers(0).state() == v1::WORKER_STATE_EXITED &&
           list.workers(0).history_size() == 1 && list.workers(0).history(0).pid() == w1;
  })) << Workers().DebugString();
  CommandResult json = Ctl({"workers", "--pid-file", pid_file(), "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(Json::parse(json.out)["workers"][0]["state"], "WORKER_STATE_EXITED") << json.out;

  // The executor dies: the guardian's file says so, then shows the new one.
  const pid_t executor = static_cast<pid_t>(status.executor().pid());
  ASSERT_EQ(kill(executor, SIGKILL), 0);
  ASSERT_TRUE(WaitFor([&] {
    v1::GuardianStatus now = Guardian();
    // RUNNING and ready: appkitctl status exits 0 only then (4 while starting).
    return now.restart_count() == 1 && now.executor_running() && now.executor().pid() != executor &&
           now.state() == v1::GUARDIAN_STATE_RUNNING && now.ready();
  })) << Guardian().DebugString();
  EXPECT_EQ(RestartCountShown(), 1);

  ASSERT_EQ(kill(guardian_, SIGTERM), 0);
  ASSERT_TRUE(WaitForExit(guardian_, absl::Seconds(15)));
  EXPECT_FALSE(FileExists(status_file()));
  EXPECT_FALSE(FileExists(workers_file()));
  EXPECT_FALSE(FileExists(pid_file()));
}

// appkitctl reads the file (a doctored copy shows), and trusts only a file
// of the daemon's user, 0600, a regular file, naming the live guardian.
TEST_F(StatusFileTest, AppkitctlReadsTheFileAndRefusesOneItCannotTrust) {
  Start();
  ASSERT_EQ(RestartCountShown(), 0);
  v1::GuardianStatusFile doctored = GuardianFile();
  doctored.mutable_status()->set_restart_count(77);
  const std::string bytes = doctored.SerializeAsString();

  Plant(status_file(), bytes);
  EXPECT_EQ(RestartCountShown(), 77) << "the file is what appkitctl shows";

  Plant(status_file(), bytes, 0644);  // others may read it
  EXPECT_EQ(RestartCountShown(), 0);

  Plant(status_file(), bytes);
  ASSERT_EQ(chown(status_file().c_str(), 65534, 65534), 0);  // not the daemon's user
  EXPECT_EQ(RestartCountShown(), 0);

  Plant(dir_.File("elsewhere"), bytes);
  ASSERT_EQ(unlink(status_file().c_str()), 0);
  ASSERT_EQ(symlink(dir_.File("elsewhere").c_str(), status_file().c_str()), 0);
  EXPECT_EQ(RestartCountShown(), 0);
  ASSERT_EQ(unlink(status_file().c_str()), 0);

  v1::GuardianStatusFile other = doctored;
  other.mutable_status()->set_guardian_pid(guardian_ + 1);  // not the holder of the pid file
  Plant(status_file(), other.SerializeAsString());
  EXPECT_EQ(RestartCountShown(), 0);

  other = doctored;
  other.set_control_socket_ino(other.control_socket_ino() + 1);  // not the guardian's socket
  Plant(status_file(), other.SerializeAsString());
  EXPECT_EQ(RestartCountShown(), 0);

  ASSERT_EQ(mkfifo((status_file() + ".fifo").c_str(), 0600), 0);
  ASSERT_EQ(rename((status_file() + ".fifo").c_str(), status_file().c_str()), 0);
  EXPECT_EQ(RestartCountShown(), 0) << "a FIFO neither blocks nor is trusted";
  ASSERT_EQ(unlink(status_file().c_str()), 0);
  EXPECT_EQ(RestartCountShown(), 0) << "no file: the RPC answers";

  // The workers file: the same rules.
  v1::ListWorkersResponse list = Workers();
  list.mutable_workers(0)->set_name("planted");
  Plant(workers_file(), list.SerializeAsString());
  EXPECT_NE(WorkersShown().find("planted"), std::string::npos);
  Plant(workers_file(), list.SerializeAsString(), 0640);
  EXPECT_EQ(WorkersShown().find("planted"), std::string::npos);
  Plant(workers_file(), list.SerializeAsString());
  ASSERT_EQ(chown(workers_file().c_str(), 65534, 65534), 0);
  EXPECT_EQ(WorkersShown().find("planted"), std::string::npos);
  list.set_controller_pid(list.controller_pid() + 1);  // not the running executor's
  Plant(workers_file(), list.SerializeAsString());
  EXPECT_EQ(WorkersShown().find("planted"), std::string::npos);
}

}  // namespace
}  // namespace appkit
