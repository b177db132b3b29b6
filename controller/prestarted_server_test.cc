// controller/prestarted_server with a real fork server binary
// (common/process/fork_server_test_server): the server prestarted is the one
// taken, and it forks; one of another binary, or taken after the process
// changed (a variable, the directory, the umask), is refused and reaped;
// one nobody takes is retired (killed and reaped) after its standby.
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

#include "common/process/pidfd.h"
#include "gtest/gtest.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit::controller {
namespace {

std::string Server() { return testing::RunfilePath("common/process/fork_server_test_server"); }

// Not our child any more (reaped), or never was.
bool Reaped(pid_t pid) { return waitpid(pid, nullptr, WNOHANG) < 0 && errno == ECHILD; }

// The pid of the server prestarted now (a child of ours running it).
pid_t PrestartedPid() {
  std::vector<pid_t> children = ChildPids();
  return children.size() == 1 ? children[0] : 0;
}

class PrestartedServerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    // Nothing taken stays waiting for the next test.
    (void)TakePrestartedWorkerServer(Server());
    for (pid_t pid : ChildPids()) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
};

TEST_F(PrestartedServerTest, TheServerPrestartedIsTakenAndForks) {
  PrestartWorkerServer(Server(), "appkit-fork-server test/workers");
  const pid_t pid = PrestartedPid();
  ASSERT_GT(pid, 0);
  std::unique_ptr<ForkServer> server = TakePrestartedWorkerServer(Server());
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->pid(), pid);
  absl::StatusOr<pid_t> child = server->Fork("four", {});
  ASSERT_TRUE(child.ok()) << child.status();
  int status = 0;
  ASSERT_EQ(waitpid(*child, &status, 0), *child);
  EXPECT_EQ(WEXITSTATUS(status), 4);
  // Taken once.
  EXPECT_EQ(TakePrestartedWorkerServer(Server()), nullptr);
}

TEST_F(PrestartedServerTest, ASecondPrestartWhileOneWaitsDoesNothing) {
  PrestartWorkerServer(Server(), "");
  const pid_t pid = PrestartedPid();
  ASSERT_GT(pid, 0);
  PrestartWorkerServer(Server(), "");
  EXPECT_EQ(ChildPids().size(), 1u);
  std::unique_ptr<ForkServer> server = TakePrestartedWorkerServer(Server());
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->pid(), pid);
}

TEST_F(PrestartedServerTest, AnotherBinaryIsRefusedAndTheServerReaped) {
  PrestartWorkerServer(Server(), "");
  const pid_t pid = PrestartedPid();
  ASSERT_GT(pid, 0);
  EXPECT_EQ(TakePrestartedWorkerServer("/opt/other/worker"), nullptr);
  EXPECT_TRUE(Reaped(pid));
  EXPECT_EQ(TakePrestartedWorkerServer(Server()), nullptr);  // gone for good
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
    PrestartWorkerServer(Server(), "");
    const pid_t pid = PrestartedPid();
    ASSERT_GT(pid, 0);
    change();
    EXPECT_EQ(TakePrestartedWorkerServer(Server()), nullptr);
    EXPECT_TRUE(Reaped(pid));
    undo();
  }
  // Unchanged: taken.
  PrestartWorkerServer(Server(), "");
  EXPECT_NE(TakePrestartedWorkerServer(Server()), nullptr);
}

TEST_F(PrestartedServerTest, TakenOnAnotherThreadItIsRefused) {
  PrestartWorkerServer(Server(), "");
  const pid_t pid = PrestartedPid();
  ASSERT_GT(pid, 0);
  std::unique_ptr<ForkServer> taken;
  std::thread([&taken] { taken = TakePrestartedWorkerServer(Server()); }).join();
  EXPECT_EQ(taken, nullptr);
  EXPECT_TRUE(Reaped(pid));
}

TEST_F(PrestartedServerTest, AServerNobodyTakesIsRetiredAfterItsStandby) {
  PrestartWorkerServer(Server(), "", absl::Milliseconds(100));
  const pid_t pid = PrestartedPid();
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(testing::WaitFor([&] { return Reaped(pid); }, absl::Seconds(10)));
  EXPECT_EQ(TakePrestartedWorkerServer(Server()), nullptr);
  // And a new one can wait again.
  PrestartWorkerServer(Server(), "");
  EXPECT_NE(TakePrestartedWorkerServer(Server()), nullptr);
}

TEST_F(PrestartedServerTest, ABinaryThatCannotStartPrestartsNothing) {
  PrestartWorkerServer("/nonexistent/appkit-worker", "");
  EXPECT_TRUE(ChildPids().empty());
  EXPECT_EQ(TakePrestartedWorkerServer("/nonexistent/appkit-worker"), nullptr);
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
