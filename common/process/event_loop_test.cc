// common/event_loop: timers, fds, wakes from other threads, stop.
#include "common/process/event_loop.h"
#include <algorithm>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "common/process/cgroup.h"
#include "common/process/spawn.h"
#include "gtest/gtest.h"

namespace appkit {
namespace {

TEST(EventLoopTest, TimersFireInDeadlineOrderAndCancelledOnesNever) {
  EventLoop loop;
  std::vector<std::string> fired;
  const absl::Time now = absl::Now();
  loop.AddTimer(now + absl::Milliseconds(3), [&] { fired.push_back("third"); });
  loop.AddTimer(now + absl::Milliseconds(1), [&] { fired.push_back("first"); });
  EventLoop::TimerId cancelled =
      loop.AddTimer(now + absl::Milliseconds(2), [&] { fired.push_back("cancelled"); });
  loop.AddTimer(now + absl::Milliseconds(2), [&] { fired.push_back("second"); });
  loop.AddTimer(now + absl::Milliseconds(4), [&] { loop.Stop(); });
  loop.CancelTimer(cancelled);
  loop.CancelTimer(0);  // no-op
  loop.Run();
  EXPECT_EQ(fired, (std::vector<std::string>{"first", "second", "third"}));
  EXPECT_GE(absl::Now() - now, absl::Milliseconds(4));
}

TEST(EventLoopTest, APastDeadlineFiresAtOnce) {
  EventLoop loop;
  bool fired = false;
  loop.AddTimer(absl::InfinitePast(), [&] {
    fired = true;
    loop.Stop();
  });
  loop.Run();
  EXPECT_TRUE(fired);
}

TEST(EventLoopTest, AReadableFdRunsItsCallbackUntilUnwatched) {
  EventLoop loop;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(write(fds[1], "ab", 2), 2);
  std::string read_bytes;
  ASSERT_TRUE(loop.Watch(fds[0],
                         [&] {
                           char byte;
                           ASSERT_EQ(read(fds[0], &byte, 1), 1);
                           read_bytes += byte;
                           if (read_bytes.size() == 2) {
                             loop.Unwatch(fds[0]);
                             loop.Stop();
                           }
                         })
                  .ok());
  loop.Run();
  EXPECT_EQ(read_bytes, "ab");
  close(fds[0]);
  close(fds[1]);
}

// The before-wait handler runs once per wake-up, after all of its
// callbacks: two fds ready at once are published together.
TEST(EventLoopTest, BeforeWaitRunsOnceAfterTheCallbacksOfAWakeUp) {
  EventLoop loop;
  int a[2], b[2];
  ASSERT_EQ(pipe(a), 0);
  ASSERT_EQ(pipe(b), 0);
  std::vector<std::string> seen;
  for (int* p : {a, b}) {
    ASSERT_TRUE(loop.Watch(p[0],
                           [&, p] {
                             char byte;
                             ASSERT_EQ(read(p[0], &byte, 1), 1);
                             seen.push_back(std::string(1, byte));
                           })
                    .ok());
  }
  int waits = 0;
  loop.SetBeforeWaitHandler([&] {
    seen.push_back("publish");
    if (++waits == 1) {  // before the first wait: make both fds readable
      ASSERT_EQ(write(a[1], "a", 1), 1);
      ASSERT_EQ(write(b[1], "b", 1), 1);
    } else {
      loop.Stop();
    }
  });
  loop.Run();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0], "publish");
  EXPECT_EQ(seen[3], "publish");  // once, after both callbacks
  EXPECT_NE(seen[1], "publish");
  EXPECT_NE(seen[2], "publish");
  for (int* p : {a, b}) {
    loop.Unwatch(p[0]);
    close(p[0]);
    close(p[1]);
  }
}

// The merge of i-perf and i-ready: the before-wait handler (status files)
// and the wait hooks (the watchdog) are two members; setting one keeps the
// other. The handler runs first: a timer it arms is in the wait the hooks
// are told about.
TEST(EventLoopTest, BeforeWaitHandlerAndWaitHooksBothRun) {
  EventLoop loop;
  std::vector<std::string> seen;
  std::vector<absl::Duration> waits;
  loop.SetBeforeWaitHandler([&] {
    seen.push_back("handler");
    if (seen.size() == 1) {
      loop.AddTimer(absl::Now() + absl::Milliseconds(1), [&] { seen.push_back("timer"); });
    } else if (std::find(seen.begin(), seen.end(), "timer") != seen.end()) {
      loop.Stop();
    }
  });
  loop.SetWaitHooks(
      [&](absl::Duration wait) {
        seen.push_back("before");
        waits.push_back(wait);
      },
      [&] { seen.push_back("after"); });
  loop.Run();
  ASSERT_GE(seen.size(), 5u);
  EXPECT_EQ(seen[0], "handler");
  EXPECT_EQ(seen[1], "before");
  EXPECT_EQ(seen[2], "after");
  EXPECT_EQ(seen.back(), "handler");
  EXPECT_NE(std::find(seen.begin(), seen.end(), "timer"), seen.end());
  ASSERT_FALSE(waits.empty());
  EXPECT_LE(waits[0], absl::Milliseconds(1));  // the handler's timer, not "until an fd"
}

TEST(EventLoopTest, WakeFromAnotherThreadRunsTheHandlerOnTheLoopThread) {
  EventLoop loop;
  std::thread::id handler_thread;
  loop.SetWakeHandler([&] {
    handler_thread = std::this_thread::get_id();
    loop.Stop();
  });
  std::thread waker([&] { loop.Wake(); });
  loop.Run();
  waker.join();
  EXPECT_EQ(handler_thread, std::this_thread::get_id());
}

TEST(EventLoopTest, RunReturnsAtOnceWhenStoppedBefore) {
  EventLoop loop;
  loop.Stop();
  loop.Run();
}

TEST(EventLoopTest, ALoopThatReturnedRunsAgain) {
  EventLoop loop;
  loop.Stop();
  loop.Run();
  int fired = 0;
  loop.AddTimer(absl::InfinitePast(), [&] {
    ++fired;
    loop.Stop();
  });
  loop.Run();
  EXPECT_EQ(fired, 1);
}

// A cgroup's cgroup.events raises its urgent condition when "populated"
// changes (skipped, saying why, where cgroup2 is unusable).
TEST(EventLoopTest, APriorityWatchFiresWhenACgroupEmpties) {
  auto own = OwnCgroupDir();
  if (!own.ok()) GTEST_SKIP() << "no cgroup2: " << own.status();
  auto cgroup = CreateCgroup(*own, "appkit-event-loop-test-" + std::to_string(getpid()));
  if (!cgroup.ok()) GTEST_SKIP() << "no usable cgroup2: " << cgroup.status();
  auto cgroup_fd = OpenCgroup(*cgroup);
  ASSERT_TRUE(cgroup_fd.ok());
  SpawnOptions options;
  options.argv = {"/bin/sleep", "1000"};
  options.cgroup_fd = cgroup_fd->get();
  auto pid = Spawn(options);
  ASSERT_TRUE(pid.ok()) << pid.status();
  auto events = OpenCgroupEvents(*cgroup);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_TRUE(ReadCgroupPopulated(events->get()).value_or(false));

  EventLoop loop;
  bool emptied = false;
  ASSERT_TRUE(loop.Watch(
                      events->get(),
                      [&] {
                        absl::StatusOr<bool> populated = ReadCgroupPopulated(events->get());
                        ASSERT_TRUE(populated.ok()) << populated.status();
                        if (*populated) return;
                        emptied = true;
                        loop.Stop();
                      },
                      EventLoop::Interest::kPriority)
                  .ok());
  loop.AddTimer(absl::Now() + absl::Seconds(10), [&] { loop.Stop(); });
  kill(*pid, SIGKILL);
  loop.Run();
  EXPECT_TRUE(emptied);
  waitpid(*pid, nullptr, 0);
  loop.Unwatch(events->get());
  EXPECT_EQ(rmdir(cgroup->c_str()), 0);
}

TEST(EventLoopTest, WatchingAnInvalidFdIsAnError) {
  EventLoop loop;
  EXPECT_FALSE(loop.Watch(-1, [] {}).ok());
}

}  // namespace
}  // namespace appkit
