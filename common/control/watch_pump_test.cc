// WatchPump: tasks run in the order posted, on the pump's thread, never on
// the poster's; Post returns without waiting for the task.
#include "common/control/watch_pump.h"

#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace appkit {
namespace {

TEST(WatchPumpTest, RunsTasksInOrderOnItsOwnThreadWithoutMakingThePosterWait) {
  WatchPump& pump = *new WatchPump();  // its thread outlives the test: leaked on purpose
  absl::Notification release;
  absl::Mutex mu;
  std::vector<int> ran;
  std::vector<std::thread::id> threads;
  // The first task blocks the pump: the posts after it must still return.
  pump.Post([&] { release.WaitForNotification(); });
  for (int i = 0; i < 100; ++i) {
    pump.Post([&, i] {
      absl::MutexLock lock(&mu);
      ran.push_back(i);
      threads.push_back(std::this_thread::get_id());
    });
  }
  {
    absl::MutexLock lock(&mu);
    EXPECT_TRUE(ran.empty());
  }
  release.Notify();
  absl::MutexLock lock(&mu);
  ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(
                                      +[](std::vector<int>* v) { return v->size() == 100; }, &ran),
                                  absl::Seconds(30)));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(ran[i], i);
  for (const std::thread::id& id : threads) {
    EXPECT_EQ(id, threads.front());
    EXPECT_NE(id, std::this_thread::get_id());
  }
}

TEST(WatchPumpTest, TheProcessHasOnePump) { EXPECT_EQ(&WatchPump::Get(), &WatchPump::Get()); }

}  // namespace
}  // namespace appkit
