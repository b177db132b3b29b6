// ForkBatch with a real fork server binary (common/process/fork_server_test_server:
// each child exits with the length of its request) and a real loop:
// answers come from the loop in order with at most a window in flight; a
// dead or hung server is replaced without the loop waiting, and its voided
// requests are sent again once; the children nobody heard of are reaped.
#include "controller/fork_batch.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <set>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit::controller {
namespace {

std::string Server() { return testing::RunfilePath("common/process/fork_server_test_server"); }

bool Reaped(pid_t pid) { return waitpid(pid, nullptr, WNOHANG) < 0 && errno == ECHILD; }

class FakeClient : public ForkBatch::Client {
 public:
  absl::StatusOr<ForkRequest> Prepare(int index) override {
    prepared.push_back(index);
    if (refuse.count(index) != 0) return absl::CancelledError("refused");
    max_in_flight = std::max(max_in_flight, ++in_flight);
    ForkRequest request;
    request.message = std::string(index + 1, 'x');  // the child exits with index + 1
    return request;
  }
  void Forked(int index, absl::StatusOr<pid_t> pid) override {
    if (refuse.count(index) == 0) --in_flight;
    answered.push_back(index);
    answers[index] = pid.status();
    if (pid.ok()) children.insert(*pid);
    if (on_answer) on_answer();
  }
  bool IsWorker(pid_t pid) const override { return children.count(pid) != 0; }

  // Reaps the children (they exit at once).
  void ReapChildren() {
    for (pid_t pid : children) {
      int status = 0;
      EXPECT_EQ(waitpid(pid, &status, 0), pid);
    }
    children.clear();
  }

  std::vector<int> prepared, answered;
  std::map<int, absl::Status> answers;
  std::set<int> refuse;
  std::set<pid_t> children;
  size_t in_flight = 0, max_in_flight = 0;
  std::function<void()> on_answer;
};

class ForkBatchTest : public ::testing::Test {
 protected:
  ~ForkBatchTest() override { client_.ReapChildren(); }

  static constexpr size_t kTestWindow = 16;
  std::unique_ptr<ForkBatch> Make(const std::string& binary = Server(),
                                  absl::Duration timeout = ForkBatch::kAnswerTimeout) {
    return std::make_unique<ForkBatch>(&loop_, &reaper_, &client_, binary, nullptr, timeout,
                                       kTestWindow);
  }
  // Runs the loop until `count` answers came, then calls `check` and
  // shuts `batch` down, and runs until its server and every child it left
  // are reaped (10 s at most: an EventLoop runs once).
  void Run(ForkBatch& batch, size_t count, std::function<void()> check = nullptr) {
    client_.on_answer = [this, &batch, count, check] {
      if (client_.answered.size() != count) return;
      if (check) check();
      batch.Shutdown();
    };
    reaper_.SetOnIdle([this, &batch] {
      if (batch.idle()) loop_.Stop();
    });
    const EventLoop::TimerId guard = loop_.AddTimer(absl::Now() + absl::Seconds(10), [this] {
      ADD_FAILURE() << "the loop ran for 10 s";
      loop_.Stop();
    });
    loop_.Run();
    loop_.CancelTimer(guard);
    EXPECT_TRUE(batch.idle());
    EXPECT_TRUE(reaper_.idle());
  }

  EventLoop loop_;
  ChildReaper reaper_{&loop_};
  FakeClient client_;
};

TEST_F(ForkBatchTest, ManyRequestsAreAnsweredInOrderWithAtMostAWindowInFlight) {
  auto batch = Make();
  ASSERT_TRUE(batch->Start().ok());
  for (int i = 0; i < 40; ++i) batch->Enqueue(i);
  EXPECT_TRUE(client_.prepared.empty());  // nothing from within Enqueue
  const pid_t server = batch->server_pid();
  Run(*batch, 40);
  ASSERT_EQ(client_.answered.size(), 40u);
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(client_.answered[i], i);
    EXPECT_TRUE(client_.answers[i].ok()) << client_.answers[i];
  }
  EXPECT_EQ(client_.max_in_flight, kTestWindow);
  EXPECT_TRUE(Reaped(server));  // by the loop
}

TEST(ForkBatchWindowTest, TheWindowShrinksWithTheFdLimitAndNeverVanishes) {
  EXPECT_EQ(ForkBatch::WindowForFdLimit(1 << 20), ForkBatch::kMaxWindow);
  EXPECT_EQ(ForkBatch::WindowForFdLimit(1024), 120u);
  EXPECT_EQ(ForkBatch::WindowForFdLimit(128), 8u);
  EXPECT_EQ(ForkBatch::WindowForFdLimit(32), 1u);
  EXPECT_EQ(ForkBatch::WindowForFdLimit(0), 1u);
}

TEST_F(ForkBatchTest, ARequestThatCannotBePreparedFailsAndTheOthersGoOn) {
  auto batch = Make();
  ASSERT_TRUE(batch->Start().ok());
  client_.refuse = {1};
  for (int i = 0; i < 3; ++i) batch->Enqueue(i);
  Run(*batch, 3);
  EXPECT_TRUE(client_.answers[0].ok());
  EXPECT_TRUE(absl::IsCancelled(client_.answers[1])) << client_.answers[1];
  EXPECT_TRUE(client_.answers[2].ok());
}

TEST_F(ForkBatchTest, AServerKilledWithRequestsPendingIsReplacedAndTheyAreSentAgain) {
  auto batch = Make();
  ASSERT_TRUE(batch->Start().ok());
  const pid_t first = batch->server_pid();
  kill(first, SIGSTOP);  // the requests stay pending
  for (int i = 0; i < 3; ++i) batch->Enqueue(i);
  loop_.AddTimer(absl::Now() + absl::Milliseconds(50), [&] { kill(first, SIGKILL); });
  pid_t second = 0;
  Run(*batch, 3, [&] { second = batch->server_pid(); });
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(client_.answers[i].ok()) << client_.answers[i];
  EXPECT_NE(second, first);
  EXPECT_NE(second, 0);
  EXPECT_TRUE(Reaped(first));  // by the loop
  EXPECT_TRUE(Reaped(second));
}

TEST_F(ForkBatchTest, AServerThatDoesNotAnswerIsReplacedAtTheDeadline) {
  auto batch = Make(Server(), absl::Milliseconds(100));
  ASSERT_TRUE(batch->Start().ok());
  const pid_t first = batch->server_pid();
  kill(first, SIGSTOP);
  for (int i = 0; i < 2; ++i) batch->Enqueue(i);
  const absl::Time start = absl::Now();
  pid_t second = 0;
  absl::Duration took;
  Run(*batch, 2, [&] {
    took = absl::Now() - start;
    second = batch->server_pid();
  });
  EXPECT_GE(took, absl::Milliseconds(100));
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(client_.answers[i].ok()) << client_.answers[i];
  EXPECT_NE(second, first);
  EXPECT_TRUE(Reaped(first));
}

TEST_F(ForkBatchTest, ARequestVoidedTwiceFails) {
  // A "server" that exits at once: every request is voided.
  auto batch = Make("/bin/true");
  ASSERT_TRUE(batch->Start().ok());
  for (int i = 0; i < 2; ++i) batch->Enqueue(i);
  Run(*batch, 2);
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(absl::IsUnavailable(client_.answers[i])) << client_.answers[i];
  }
  EXPECT_EQ(client_.prepared.size(), 4u);  // each sent twice
}

TEST_F(ForkBatchTest, ABinaryThatCannotStartIsAnErrorNamingIt) {
  auto batch = Make("/nonexistent/worker");
  absl::Status started = batch->Start();
  EXPECT_TRUE(absl::IsFailedPrecondition(started)) << started;
  EXPECT_NE(started.message().find("cannot start the worker binary /nonexistent/worker"),
            std::string::npos)
      << started;
}

// A child of this process that looks like one of a voided request (the
// server's comm), until `go` is closed.
pid_t FakeStray(const int go[2]) {
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_NAME, "fork_server_tes");
    close(go[1]);
    char byte;
    (void)!read(go[0], &byte, 1);
    _exit(0);
  }
  return pid;
}

TEST_F(ForkBatchTest, ChildrenOfTheDeadServerNobodyHeardOfAreReapedAndNoOthers) {
  auto batch = Make();
  ASSERT_TRUE(batch->Start().ok());
  int go[2];
  ASSERT_EQ(pipe2(go, O_CLOEXEC), 0);
  const pid_t stray = FakeStray(go);
  const pid_t bystander = fork();  // this test's own child: another comm
  if (bystander == 0) {
    close(go[1]);
    char byte;
    (void)!read(go[0], &byte, 1);
    _exit(0);
  }
  close(go[0]);
  ASSERT_TRUE(testing::WaitFor([&] {
    return testing::ReadFileOrEmpty("/proc/" + std::to_string(stray) + "/comm") ==
           "fork_server_tes\n";
  }));
  const pid_t server = batch->server_pid();
  kill(server, SIGKILL);
  batch->Enqueue(0);  // brings the replacement
  Run(*batch, 1, [&] {
    EXPECT_TRUE(reaper_.reaping(stray));
    EXPECT_FALSE(reaper_.reaping(bystander));
    close(go[1]);  // both leave
  });
  EXPECT_TRUE(client_.answers[0].ok()) << client_.answers[0];
  EXPECT_TRUE(Reaped(stray));
  EXPECT_EQ(waitpid(bystander, nullptr, 0), bystander);  // still ours to reap
}

TEST_F(ForkBatchTest, ShutdownKillsTheServerAndReapsItThroughTheLoop) {
  auto batch = Make();
  ASSERT_TRUE(batch->Start().ok());
  const pid_t server = batch->server_pid();
  EXPECT_FALSE(batch->idle());
  batch->Enqueue(0);
  Run(*batch, 1);
  EXPECT_TRUE(Reaped(server));
}

}  // namespace
}  // namespace appkit::controller
