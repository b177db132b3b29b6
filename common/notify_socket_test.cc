// common/notify_socket: datagrams from a child and its descendants are read
// with the sender's pid; others can be told apart; NotifyOwnManager speaks
// the protocol to a receiver.
#include "common/notify_socket.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace appkit {
namespace {

TEST(NotifySocketTest, AChildsMessagesArriveWithItsPid) {
  auto socket = NotifySocket::Create();
  ASSERT_TRUE(socket.ok()) << socket.status();
  EXPECT_EQ((*socket)->address().rfind("@appkit-notify-", 0), 0u);
  pid_t child = fork();
  if (child == 0) {
    setenv("NOTIFY_SOCKET", (*socket)->address().c_str(), 1);
    if (!NotifyOwnManager("READY=1\nSTATUS=serving 3 clients").ok()) _exit(1);
    pid_t grandchild = fork();
    if (grandchild == 0) _exit(NotifyOwnManager("WATCHDOG=1").ok() ? 0 : 1);
    int status = 0;
    waitpid(grandchild, &status, 0);
    _exit(WEXITSTATUS(status));
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_EQ(WEXITSTATUS(status), 0);
  std::vector<NotifySocket::Message> messages = (*socket)->ReadPending();
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].sender, child);
  EXPECT_EQ(messages[0].fields.at("READY"), "1");
  EXPECT_EQ(messages[0].fields.at("STATUS"), "serving 3 clients");
  EXPECT_EQ(messages[1].fields.at("WATCHDOG"), "1");
  EXPECT_NE(messages[1].sender, child);
  EXPECT_TRUE((*socket)->ReadPending().empty());
}

TEST(NotifySocketTest, DescendantsAreRecognisedAndStrangersAreNot) {
  EXPECT_TRUE(IsSameOrDescendant(getpid(), getpid()));
  EXPECT_TRUE(IsSameOrDescendant(getpid(), getppid()));
  EXPECT_FALSE(IsSameOrDescendant(getppid(), getpid()));
  EXPECT_FALSE(IsSameOrDescendant(1, getpid()));
}

TEST(NotifySocketTest, WithoutNotifySocketNothingIsSent) {
  unsetenv("NOTIFY_SOCKET");
  EXPECT_TRUE(NotifyOwnManager("READY=1").ok());
  setenv("NOTIFY_SOCKET", "@appkit-nobody-listens-here", 1);
  EXPECT_FALSE(NotifyOwnManager("READY=1").ok());
  unsetenv("NOTIFY_SOCKET");
}

}  // namespace
}  // namespace appkit
