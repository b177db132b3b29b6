// ForkServer with a real server binary: children are this process's own
// children, lead their own group, get exactly the fds sent; pipelined
// requests are answered in order; a dead server is reported Unavailable.
#include "common/fork_server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>

#include "gtest/gtest.h"
#include "testing/process_helpers.h"

namespace appkit {
namespace {

std::string Server() { return testing::RunfilePath("common/fork_server_test_server"); }

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
    ASSERT_TRUE((*server)->Send(request, {{data.write_end.get(), 3}, {ids.write_end.get(), 4}}).ok());
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

TEST(ForkServerTest, ABinaryThatDoesNotExistIsAnError) {
  auto server = ForkServer::Start("/nonexistent/appkit-server", {});
  EXPECT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("/nonexistent/appkit-server"), std::string::npos)
      << server.status();
}

}  // namespace
}  // namespace appkit
