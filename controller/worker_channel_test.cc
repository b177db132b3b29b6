// The controller's end of a worker channel over a real socketpair: one
// byte per message both ways, nothing blocks, EOF reads as closed.
#include "controller/worker_channel.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/base/fd_io.h"
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

// A command worker's kEntryRunning carries its pid file's fd: it comes
// with the message; a second fd in the same message is closed, not kept.
TEST(WorkerChannelTest, AnFdThatComesWithAMessageIsTheControllersAndOnlyOne) {
  absl::StatusOr<WorkerChannel> channel = MakeWorkerChannel();
  ASSERT_TRUE(channel.ok());
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_NONBLOCK), 0);  // a read never waits
  ASSERT_TRUE(SendWithFds(channel->theirs.get(), "r", {pipe_fds[0], pipe_fds[1]}));
  close(pipe_fds[1]);

  FromWorker got = ReceiveFromWorker(channel->ours.get());
  ASSERT_EQ(got.kind, FromWorker::kMessage);
  EXPECT_EQ(got.message, wire::Message::kEntryRunning);
  ASSERT_TRUE(got.fd);
  EXPECT_TRUE(fcntl(got.fd.get(), F_GETFD) & FD_CLOEXEC);
  struct stat received, sent;
  ASSERT_EQ(fstat(got.fd.get(), &received), 0);
  ASSERT_EQ(fstat(pipe_fds[0], &sent), 0);
  EXPECT_EQ(received.st_ino, sent.st_ino);
  // The write end's copy was closed by ReceiveFromWorker: the pipe reads
  // EOF now that ours is closed too.
  char c;
  EXPECT_EQ(read(pipe_fds[0], &c, 1), 0);
  close(pipe_fds[0]);
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
