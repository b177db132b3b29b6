#include "common/process/accept_watch.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/base/unique_fd.h"
#include "gtest/gtest.h"

namespace appkit {
namespace {

// A connected pair: the "listening" end stays readable until drained.
struct Pending {
  Pending() {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    listener.reset(fds[0]);
    client.reset(fds[1]);
    EXPECT_EQ(write(client.get(), "x", 1), 1);
  }
  UniqueFd listener, client;
};

// Issue 11 item 8: accept() failing (EMFILE) must not spin: the socket is
// unwatched and retried from a timer, 100 ms doubling to 1 s, until it
// works; then it is watched again.
TEST(AcceptWatchTest, BacksOffWhileAcceptFailsThenWatchesAgain) {
  EventLoop loop;
  Pending pending;
  int calls = 0;
  std::vector<absl::Time> at;
  auto watch = AcceptWatch::Start(&loop, pending.listener.get(), "test socket", [&] {
    ++calls;
    at.push_back(absl::Now());
    if (calls <= 4) return EMFILE;  // out of fds: the connection stays pending
    char byte;
    EXPECT_EQ(read(pending.listener.get(), &byte, 1), 1);  // "accepted"
    if (calls == 5) {
      // A new connection: taken at once, since the socket is watched again.
      EXPECT_EQ(write(pending.client.get(), "y", 1), 1);
    } else {
      loop.Stop();
    }
    return 0;
  });
  ASSERT_TRUE(watch.ok()) << watch.status();
  const EventLoop::TimerId give_up = loop.AddTimer(absl::Now() + absl::Seconds(10), [&] {
    ADD_FAILURE() << "never accepted";
    loop.Stop();
  });
  const absl::Time start = absl::Now();
  loop.Run();
  loop.CancelTimer(give_up);
  EXPECT_EQ(calls, 6);  // not thousands
  ASSERT_EQ(at.size(), 6u);
  // Retries after 100, 200, 400 and 800 ms.
  EXPECT_GE(at[1] - at[0], absl::Milliseconds(100));
  EXPECT_GE(at[2] - at[1], absl::Milliseconds(200));
  EXPECT_GE(at[3] - at[2], absl::Milliseconds(400));
  EXPECT_GE(at[4] - at[3], absl::Milliseconds(800));
  EXPECT_LT(at[5] - at[4], absl::Milliseconds(50));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ((*watch)->failures(), 4);
  EXPECT_FALSE((*watch)->paused());
}

TEST(AcceptWatchTest, BackoffStopsDoublingAtItsMaximum) {
  EventLoop loop;
  Pending pending;
  std::vector<absl::Time> at;
  AcceptBackoff backoff;
  backoff.first = absl::Milliseconds(10);
  backoff.max = absl::Milliseconds(40);
  auto watch = AcceptWatch::Start(
      &loop, pending.listener.get(), "test socket",
      [&] {
        at.push_back(absl::Now());
        if (at.size() == 7) loop.Stop();
        return ENFILE;
      },
      backoff);
  ASSERT_TRUE(watch.ok());
  loop.Run();
  ASSERT_EQ(at.size(), 7u);
  // 10, 20, 40, 40, 40, 40 ms.
  EXPECT_LT(at[6] - at[3], absl::Milliseconds(40 * 3 + 100));
  EXPECT_GE(at[6] - at[3], absl::Milliseconds(40 * 3));
  EXPECT_TRUE((*watch)->paused());
}

TEST(AcceptWatchTest, DestroyingItWhilePausedCancelsItsTimer) {
  EventLoop loop;
  Pending pending;
  int calls = 0;
  auto watch = AcceptWatch::Start(&loop, pending.listener.get(), "test socket", [&] {
    ++calls;
    return EMFILE;
  });
  ASSERT_TRUE(watch.ok());
  loop.AddTimer(absl::Now() + absl::Milliseconds(50), [&] { watch->reset(); });
  loop.AddTimer(absl::Now() + absl::Milliseconds(400), [&] { loop.Stop(); });
  loop.Run();
  EXPECT_EQ(calls, 1);  // the retry at 100 ms never ran
}

TEST(AcceptWatchTest, AnFdThatCannotBeWatchedIsAnError) {
  EventLoop loop;
  auto watch = AcceptWatch::Start(&loop, -1, "no socket", [] { return 0; });
  EXPECT_FALSE(watch.ok());
}

}  // namespace
}  // namespace appkit
