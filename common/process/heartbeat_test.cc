// common/heartbeat: a child's beats reach the supervisor's table through
// shared memory; beats cost no syscall (the benchmark in bench/ prints the
// time; here, a child that beats and one that does not).
#include "common/process/heartbeat.h"
#include "common/runtime/supervision.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/time/clock.h"
#include "common/runtime/quit.h"
#include "gtest/gtest.h"

namespace appkit {
namespace {

TEST(HeartbeatTest, AChildsBeatsReachItsSlotAndNoOther) {
  auto table = HeartbeatTable::Create(3);
  ASSERT_TRUE(table.ok()) << table.status();
  for (int slot = 0; slot < 3; ++slot) (*table)->Reset(slot);
  const int64_t before = (*table)->LastBeat(1);
  const int64_t other = (*table)->LastBeat(2);
  int done[2];
  ASSERT_EQ(pipe(done), 0);
  pid_t child = fork();
  if (child == 0) {
    if (!internal::AttachHeartbeat((*table)->fd(), 1).ok()) _exit(1);
    for (int i = 0; i < 1000; ++i) internal::BeatHeart();
    internal::BeatHeartUntil(424242);  // a value the clock cannot give
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE((*table)->LastBeat(1), before);
  EXPECT_EQ((*table)->LastBeat(1), 424242);
  EXPECT_EQ((*table)->LastBeat(2), other);
}

TEST(HeartbeatTest, UnattachedBeatsAreHarmless) {
  internal::BeatHeart();  // no table in this process: nothing happens
}

// The runtime's side: QuitRequested() beats; Sleep() says "alive until
// the sleep ends" (its own quit checks must not overwrite that), then beats
// when it wakes.
TEST(HeartbeatTest, QuitRequestedAndSleepCountAsBeats) {
  auto table = HeartbeatTable::Create(1);
  ASSERT_TRUE(table.ok()) << table.status();
  (*table)->Reset(0);
  ASSERT_TRUE(internal::AttachHeartbeat((*table)->fd(), 0).ok());
  const int64_t attached = (*table)->LastBeat(0);
  internal::BeatHeartUntil(1);  // long ago
  QuitRequested();
  EXPECT_GE((*table)->LastBeat(0), attached);
  std::atomic<bool> slept{false};
  std::thread sleeper([&] {
    Sleep(absl::Milliseconds(400));
    slept = true;
  });
  // While it sleeps, the slot holds its wake-up time, ahead of now.
  bool ahead = false;
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (!slept && !ahead && absl::Now() < give_up) {
    ahead = (*table)->LastBeat(0) > MonotonicNanos() + 100'000'000;
  }
  sleeper.join();
  EXPECT_TRUE(ahead);
  EXPECT_LE((*table)->LastBeat(0), MonotonicNanos());  // awake: now, not ahead
  const int64_t before = MonotonicNanos();
  Heartbeat();
  EXPECT_GE((*table)->LastBeat(0), before);
}

TEST(HeartbeatTest, ATableNeedsASlot) { EXPECT_FALSE(HeartbeatTable::Create(0).ok()); }

}  // namespace
}  // namespace appkit
