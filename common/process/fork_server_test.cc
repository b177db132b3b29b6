// ForkServer with a real server binary: children are this process's own
// children, lead their own group, get exactly the fds sent; pipelined
// requests are answered in order; a dead server is reported Unavailable.
#include "common/process/fork_server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "common/process/event_loop.h"
#include "gtest/gtest.h"
#include "testing/process_helpers.h"

namespace appkit {
namespace {

std::string Server() { return testing::RunfilePath("common/process/fork_server_test_server"); }

struct Pipe {
  Pipe() {
    int ends[2];
    EXPECT_EQ(pipe2(ends, O_CLOEXEC), 0);
    read_end.reset(ends[0]);
    write_end.reset(ends[1]);
  }
  std::string ReadAllAfterClose() {
    write_end.reset();
    std::string data;
    char buf[256];
    ssize_t n;
    while ((n = read(read_end.get(), buf, sizeof(buf))) > 0) data.append(buf, n);
    return data;
  }
  UniqueFd read_end, write_end;
};

int ExitCodeOf(pid_t pid) {
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);  // our child, thanks to CLONE_PARENT
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ForkServerTest, ChildIsOurOwnInItsOwnGroupWithTheFdsSent) {
  auto server = ForkServer::Start(Server(), {});
  ASSERT_TRUE(server.ok()) << server.status();
  Pipe data, ids;
  auto pid = (*server)->Fork("hello", {{data.write_end.get(), 3}, {ids.write_end.get(), 4}});
  ASSERT_TRUE(pid.ok()) << pid.status();
  EXPECT_EQ(ExitCodeOf(*pid), 5);
  EXPECT_EQ(data.ReadAllAfterClose(), "hello");
  std::istringstream in(ids.ReadAllAfterClose());
  pid_t parent, group, self;
  in >> parent >> group >> self;
  EXPECT_EQ(parent, getpid());
  EXPECT_EQ(group, *pid);
  EXPECT_EQ(self, *pid);
}

TEST(ForkServerTest, PipelinedRequestsAreAnsweredInOrder) {
  auto server = ForkServer::Start(Server(), {});
  ASSERT_TRUE(server.ok()) << server.status();
  Pipe data, ids;
  const std::vector<std::string> requests = {"a", "bb", "ccc", "dddd"};
  for (const std::string& request : requests) {
    ASSERT_TRUE(
        (*server)->Send(request, {{data.write_end.get(), 3}, {ids.write_end.get(), 4}}).ok());
  }
  EXPECT_EQ((*server)->pending(), requests.size());
  for (const std::string& request : requests) {
    auto pid = (*server)->Receive();
    ASSERT_TRUE(pid.ok()) << pid.status();
    EXPECT_EQ(ExitCodeOf(*pid), static_cast<int>(request.size()));
  }
  EXPECT_EQ(data.ReadAllAfterClose(), "abbcccdddd");
}

TEST(ForkServerTest, ADeadServerIsUnavailable) {
  auto server = ForkServer::Start(Server(), {});
  ASSERT_TRUE(server.ok()) << server.status();
  kill((*server)->pid(), SIGKILL);
  ASSERT_TRUE(testing::WaitForExit((*server)->pid()));
  Pipe data, ids;
  auto pid = (*server)->Fork("x", {{data.write_end.get(), 3}, {ids.write_end.get(), 4}});
  EXPECT_TRUE(absl::IsUnavailable(pid.status())) << pid.status();
}

// The asynchronous side, driven by an EventLoop as a supervisor does:
// nothing waits on the loop's thread.
class AsyncForkServerTest : public ::testing::Test {
 protected:
  void Watch(ForkServer& server) {
    ASSERT_TRUE(loop_
                    .Watch(server.fd(),
                           [&] {
                             server.OnReadable();
                             Rearm(server);
                           })
                    .ok());
    Rearm(server);
  }
  // The deadline timer, as an owner keeps it.
  void Rearm(ForkServer& server) {
    loop_.CancelTimer(timer_);
    timer_ = 0;
    if (std::optional<absl::Time> at = server.deadline()) {
      timer_ = loop_.AddTimer(*at, [&] {
        timer_ = 0;
        server.Expire();
      });
    }
  }
  EventLoop loop_;
  EventLoop::TimerId timer_ = 0;
};

TEST_F(AsyncForkServerTest, AnswersComeThroughTheLoopInOrder) {
  auto server = ForkServer::Start(Server(), {});
  ASSERT_TRUE(server.ok()) << server.status();
  Pipe data, ids;
  std::vector<pid_t> pids;
  for (const std::string request : {"a", "bb", "ccc"}) {
    (*server)->Submit(request, {{data.write_end.get(), 3}, {ids.write_end.get(), 4}}, -1,
                      [&](absl::StatusOr<pid_t> pid) {
                        ASSERT_TRUE(pid.ok()) << pid.status();
                        pids.push_back(*pid);
                        if (pids.size() == 3) loop_.Stop();
                      });
  }
  Watch(**server);
  loop_.Run();
  ASSERT_EQ(pids.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(ExitCodeOf(pids[i]), i + 1);
  // Each child ran its own request once. (Not in order: the three go's
  // leave together, and the children race to write.)
  std::string written = data.ReadAllAfterClose();
  std::sort(written.begin(), written.end());
  EXPECT_EQ(written, "abbccc");
  EXPECT_FALSE((*server)->deadline().has_value());
}

TEST_F(AsyncForkServerTest, AServerThatDoesNotAnswerIsVoidedAtTheDeadline) {
  auto server = ForkServer::Start(Server(), {});
  ASSERT_TRUE(server.ok()) << server.status();
  kill((*server)->pid(), SIGSTOP);
  Pipe data, ids;
  std::vector<absl::Status> answers;
  // Before the first Submit: its deadline counts from there.
  const absl::Time start = absl::Now();
  for (int i = 0; i < 2; ++i) {
    (*server)->Submit(
        "x", {{data.write_end.get(), 3}, {ids.write_end.get(), 4}}, -1,
        [&](absl::StatusOr<pid_t> pid) {
          answers.push_back(pid.status());
          if (answers.size() == 2) loop_.Stop();
        },
        absl::Milliseconds(50));
  }
  Watch(**server);
  loop_.Run();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  ASSERT_EQ(answers.size(), 2u);
  for (const absl::Status& answer : answers) {
    EXPECT_TRUE(absl::IsUnavailable(answer)) << answer;
    EXPECT_NE(answer.message().find("did not answer"), std::string::npos) << answer;
  }
  kill((*server)->pid(), SIGCONT);
}

TEST_F(AsyncForkServerTest, ADeadServerAnswersUnavailable) {
  auto server = ForkServer::Start(Server(), {});
  ASSERT_TRUE(server.ok()) << server.status();
  Pipe data, ids;
  absl::Status answer;
  (*server)->Submit("x", {{data.write_end.get(), 3}, {ids.write_end.get(), 4}}, -1,
                    [&](absl::StatusOr<pid_t> pid) {
                      if (pid.ok()) ExitCodeOf(*pid);
                      kill((*server)->pid(), SIGKILL);
                    });
  (*server)->Submit("y", {{data.write_end.get(), 3}, {ids.write_end.get(), 4}}, -1,
                    [&](absl::StatusOr<pid_t> pid) {
                      answer = pid.status();
                      if (pid.ok()) ExitCodeOf(*pid);
                      loop_.Stop();
                    });
  Watch(**server);
  loop_.Run();
  // The second was answered before the kill, or voided by it: either way
  // the loop heard of it, and a new request fails at once.
  bool called = false;
  (*server)->Submit("z", {}, -1, [&](absl::StatusOr<pid_t> pid) {
    called = true;
    if (pid.ok()) ExitCodeOf(*pid);
  });
  ASSERT_TRUE(testing::WaitForExit((*server)->pid()));
  (*server)->OnReadable();
  EXPECT_TRUE(called || !(*server)->deadline().has_value());
}

TEST(ForkServerTest, ABinaryThatDoesNotExistIsAnError) {
  auto server = ForkServer::Start("/nonexistent/appkit-server", {});
  EXPECT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("/nonexistent/appkit-server"), std::string::npos)
      << server.status();
}

// A launcher that says its companion's exec failed (SpawnDetached's
// exec_error_env): Adopt reaps the exiting server at once and gives none,
// whatever the timing of its exit.
TEST(ForkServerTest, AdoptReapsACompanionWhoseExecFailed) {
  int ends[2];
  ASSERT_EQ(pipe2(ends, O_CLOEXEC), 0);
  close(ends[1]);
  pid_t companion = fork();
  if (companion == 0) _exit(127);
  setenv(ForkServer::kServerPidEnv, std::to_string(companion).c_str(), 1);
  setenv(ForkServer::kServerExecErrorEnv, "0000000002", 1);
  EXPECT_EQ(ForkServer::Adopt(ends[0]), nullptr);
  EXPECT_EQ(getenv(ForkServer::kServerPidEnv), nullptr);
  EXPECT_EQ(getenv(ForkServer::kServerExecErrorEnv), nullptr);
  EXPECT_EQ(waitpid(companion, nullptr, WNOHANG), -1) << "not reaped";
  EXPECT_EQ(errno, ECHILD);
  EXPECT_EQ(fcntl(ends[0], F_GETFD), -1) << "the fd is taken (closed)";
}

}  // namespace
}  // namespace appkit
