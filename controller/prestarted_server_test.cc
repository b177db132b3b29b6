// controller/prestarted_server: a real fork of this test serving fork
// requests (ServeForkRequests; each child exits with its request's length):
// the server prestarted is the one taken, and it forks, as a process of its
// own group; one taken on another thread or after the process changed (a
// variable, the directory, the umask) is refused and reaped; one nobody
// takes is retired (killed and reaped) after its standby.
#include "controller/prestarted_server.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "common/process/cgroup.h"
#include "common/process/fork_server.h"
#include "common/process/pidfd.h"
#include "gtest/gtest.h"
#include "proto/wire.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit::controller {
namespace {

// The server: each child exits with its request's length.
int Serve() {
  return ServeForkRequests(wire::kForkServerFd,
                           [](const std::string& request) { return int(request.size()); }, {});
}

// Not our child any more (reaped), or never was.
bool Reaped(pid_t pid) { return waitpid(pid, nullptr, WNOHANG) < 0 && errno == ECHILD; }

std::string ReadCgroup(pid_t pid) {
  return testing::ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/cgroup");
}

// Whether this process's pool cgroup (made for a prestarted server) exists.
bool PoolCgroupExists() {
  absl::StatusOr<std::string> own = OwnCgroupDir();
  struct stat st;
  return own.ok() && stat((*own + "/" + PoolCgroupName(getpid())).c_str(), &st) == 0;
}

// The pid of the server prestarted now (a child of ours running it).
pid_t PrestartedPid() {
  std::vector<pid_t> children = ChildPids();
  return children.size() == 1 ? children[0] : 0;
}

class PrestartedServerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    // Nothing taken stays waiting for the next test.
    TakePrestartedWorkerServer(1).server.reset();
    for (pid_t pid : ChildPids()) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    // A server taken is ours: so is its cgroup.
    if (absl::StatusOr<std::string> own = OwnCgroupDir(); own.ok()) {
      (void)RemoveCgroupTree(*own + "/" + PoolCgroupName(getpid()), /*keep_top=*/false);
    }
  }
};

TEST_F(PrestartedServerTest, TheServerPrestartedIsTakenAndForks) {
  PrestartWorkerServer(Serve, "appkit-fork-server test/workers");
  const pid_t pid = PrestartedPid();
  ASSERT_GT(pid, 0);
  PrestartedServer taken = TakePrestartedWorkerServer(1);
  std::unique_ptr<ForkServer>& server = taken.server;
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->pid(), pid);
  EXPECT_EQ(getpgid(pid), pid);
  // Born in a pool cgroup of its own, where cgroups are usable.
  if (!taken.cgroup.empty()) {
    EXPECT_NE(taken.cgroup.find("/appkit-pool-" + std::to_string(getpid())), std::string::npos);
    EXPECT_NE(ReadCgroup(pid).find(taken.cgroup.substr(taken.cgroup.find("/appkit-pool-"))),
              std::string::npos)
        << ReadCgroup(pid);
  }
  absl::StatusOr<pid_t> child = server->Fork("four", {});
  ASSERT_TRUE(child.ok()) << child.status();
  int status = 0;
  ASSERT_EQ(waitpid(*child, &status, 0), *child);
  EXPECT_EQ(WEXITSTATUS(status), 4);
  // Taken once.
  EXPECT_EQ(TakePrestartedWorkerServer(1).server, nullptr);
}

TEST_F(PrestartedServerTest, ASecondPrestartWhileOneWaitsDoesNothing) {
  PrestartWorkerServer(Serve, "");
  const pid_t pid = PrestartedPid();
  ASSERT_GT(pid, 0);
  PrestartWorkerServer(Serve, "");
  EXPECT_EQ(ChildPids().size(), 1u);
  std::unique_ptr<ForkServer> server = TakePrestartedWorkerServer(1).server;
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->pid(), pid);
}

TEST_F(PrestartedServerTest, AServerTheProcessChangedSinceIsRefused) {
  testing::TempDir dir;
  const std::string cwd = get_current_dir_name();
  // Each change a child would inherit across exec: a fresh server then.
  const std::vector<std::pair<std::function<void()>, std::function<void()>>> changes = {
      {[] { setenv("APPKIT_PRESTART_TEST", "1", 1); }, [] { unsetenv("APPKIT_PRESTART_TEST"); }},
      {[&] { ASSERT_EQ(chdir(dir.path().c_str()), 0); }, [&] { ASSERT_EQ(chdir(cwd.c_str()), 0); }},
      {[] { umask(umask(0) ^ 07); }, [] { umask(umask(0) ^ 07); }},
  };
  for (const auto& [change, undo] : changes) {
    PrestartWorkerServer(Serve, "");
    const pid_t pid = PrestartedPid();
    ASSERT_GT(pid, 0);
    change();
    EXPECT_EQ(TakePrestartedWorkerServer(1).server, nullptr);
    EXPECT_TRUE(Reaped(pid));
    undo();
  }
  // Unchanged: taken.
  PrestartWorkerServer(Serve, "");
  EXPECT_NE(TakePrestartedWorkerServer(1).server, nullptr);
}

TEST_F(PrestartedServerTest, TakenOnAnotherThreadItIsRefused) {
  PrestartWorkerServer(Serve, "");
  const pid_t pid = PrestartedPid();
  ASSERT_GT(pid, 0);
  std::unique_ptr<ForkServer> taken;
  std::thread([&taken] { taken = TakePrestartedWorkerServer(1).server; }).join();
  EXPECT_EQ(taken, nullptr);
  EXPECT_TRUE(Reaped(pid));
}

TEST_F(PrestartedServerTest, AServerNobodyTakesIsRetiredAfterItsStandby) {
  PrestartWorkerServer(Serve, "", absl::Milliseconds(100));
  const pid_t pid = PrestartedPid();
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(testing::WaitFor([&] { return Reaped(pid); }, absl::Seconds(10)));
  // Its pool cgroup goes with it.
  EXPECT_TRUE(testing::WaitFor([&] { return !PoolCgroupExists(); }, absl::Seconds(10)));
  EXPECT_EQ(TakePrestartedWorkerServer(1).server, nullptr);
  // And a new one can wait again.
  PrestartWorkerServer(Serve, "");
  EXPECT_NE(TakePrestartedWorkerServer(1).server, nullptr);
}

TEST(ProcessFingerprintTest, IsStableAndSeesTheEnvironment) {
  const std::string before = ProcessFingerprint();
  EXPECT_EQ(ProcessFingerprint(), before);
  setenv("APPKIT_FINGERPRINT_TEST", "x", 1);
  EXPECT_NE(ProcessFingerprint(), before);
  unsetenv("APPKIT_FINGERPRINT_TEST");
  EXPECT_EQ(ProcessFingerprint(), before);
}

}  // namespace
}  // namespace appkit::controller
