// The controller's end of a worker channel over a real socketpair: one
// byte per message both ways, nothing blocks, EOF reads as closed.
#include "controller/worker_channel.h"

#include <fcntl.h>
#include <sys/socket.h>

#include "gtest/gtest.h"

namespace appkit::controller {
namespace {

char ReadByte(int fd) {
  char byte = 0;
  EXPECT_EQ(recv(fd, &byte, 1, MSG_DONTWAIT), 1);
  return byte;
}

TEST(WorkerChannelTest, BothEndsAreCloseOnExecSeqpacketSockets) {
  absl::StatusOr<WorkerChannel> channel = MakeWorkerChannel();
  ASSERT_TRUE(channel.ok()) << channel.status();
  for (int fd : {channel->ours.get(), channel->theirs.get()}) {
    EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    int type = 0;
    socklen_t length = sizeof(type);
    ASSERT_EQ(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length), 0);
    EXPECT_EQ(type, SOCK_SEQPACKET);
  }
}

TEST(WorkerChannelTest, MessagesToTheWorkerAreTheBytesOfWireH) {
  absl::StatusOr<WorkerChannel> channel = MakeWorkerChannel();
  ASSERT_TRUE(channel.ok());
  EXPECT_TRUE(SendToWorker(channel->ours.get(), wire::Message::kQuit));
  EXPECT_TRUE(SendToWorker(channel->ours.get(), wire::Message::kPing));
  EXPECT_TRUE(SendToWorker(channel->ours.get(), wire::Message::kRewritePidFile));
  EXPECT_EQ(ReadByte(channel->theirs.get()), 'q');
  EXPECT_EQ(ReadByte(channel->theirs.get()), 'h');
  EXPECT_EQ(ReadByte(channel->theirs.get()), 'p');
}

TEST(WorkerChannelTest, MessagesFromTheWorkerAreReadOneAtATimeWithoutWaiting) {
  absl::StatusOr<WorkerChannel> channel = MakeWorkerChannel();
  ASSERT_TRUE(channel.ok());
  EXPECT_EQ(ReceiveFromWorker(channel->ours.get()).kind, FromWorker::kNothing);
  for (char byte : {'r', 'H'}) {
    ASSERT_EQ(send(channel->theirs.get(), &byte, 1, 0), 1);
  }
  FromWorker first = ReceiveFromWorker(channel->ours.get());
  ASSERT_EQ(first.kind, FromWorker::kMessage);
  EXPECT_EQ(first.message, wire::Message::kEntryRunning);
  FromWorker second = ReceiveFromWorker(channel->ours.get());
  ASSERT_EQ(second.kind, FromWorker::kMessage);
  EXPECT_EQ(second.message, wire::Message::kPong);
  EXPECT_EQ(ReceiveFromWorker(channel->ours.get()).kind, FromWorker::kNothing);
}

TEST(WorkerChannelTest, AWorkerThatIsGoneReadsAsClosedAndTakesNoMessage) {
  absl::StatusOr<WorkerChannel> channel = MakeWorkerChannel();
  ASSERT_TRUE(channel.ok());
  channel->theirs.reset();
  EXPECT_EQ(ReceiveFromWorker(channel->ours.get()).kind, FromWorker::kClosed);
  EXPECT_FALSE(SendToWorker(channel->ours.get(), wire::Message::kQuit));  // no SIGPIPE either
}

TEST(WorkerChannelTest, NoChannelTakesNoMessage) {
  EXPECT_FALSE(SendToWorker(-1, wire::Message::kQuit));
}

}  // namespace
}  // namespace appkit::controller
