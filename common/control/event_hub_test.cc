#include "common/control/event_hub.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "common/control/event_queue.h"
#include "gtest/gtest.h"

namespace appkit {
namespace {

v1::Event Kind(v1::EventKind kind) {
  v1::Event event;
  event.set_kind(kind);
  return event;
}

TEST(EventQueueTest, NumbersEventsFromOneInOrder) {
  EventQueue queue(8);
  queue.Push(Kind(v1::EVENT_KIND_STARTED));
  queue.Push(Kind(v1::EVENT_KIND_EXITED));
  v1::Event event;
  ASSERT_EQ(queue.Take(&event), EventQueue::Next::kEvent);
  EXPECT_EQ(event.sequence(), 1u);
  EXPECT_EQ(event.kind(), v1::EVENT_KIND_STARTED);
  ASSERT_EQ(queue.Take(&event), EventQueue::Next::kEvent);
  EXPECT_EQ(event.sequence(), 2u);
  EXPECT_EQ(event.kind(), v1::EVENT_KIND_EXITED);
  EXPECT_EQ(queue.Take(&event), EventQueue::Next::kWait);
}

TEST(EventQueueTest, WakesAWaitingReaderOnceWhenAnEventComes) {
  EventQueue queue(8);
  int wakes = 0;
  queue.SetWaker([&] { ++wakes; });
  queue.Push(Kind(v1::EVENT_KIND_STARTED));
  EXPECT_EQ(wakes, 0);  // nobody waited
  v1::Event event;
  ASSERT_EQ(queue.Take(&event), EventQueue::Next::kEvent);
  ASSERT_EQ(queue.Take(&event), EventQueue::Next::kWait);
  queue.Push(Kind(v1::EVENT_KIND_EXITED));
  queue.Push(Kind(v1::EVENT_KIND_STARTED));
  EXPECT_EQ(wakes, 1);
}

TEST(EventQueueTest, OverflowsWhenFullAndTakesNoMore) {
  EventQueue queue(2);
  queue.Push(Kind(v1::EVENT_KIND_STARTED));
  queue.Push(Kind(v1::EVENT_KIND_EXITED));
  EXPECT_FALSE(queue.overflowed());
  queue.Push(Kind(v1::EVENT_KIND_STARTED));  // the third: over capacity
  EXPECT_TRUE(queue.overflowed());
  EXPECT_EQ(queue.size(), 0u);  // memory is freed at once
  queue.Push(Kind(v1::EVENT_KIND_STARTED));
  v1::Event event;
  EXPECT_EQ(queue.Take(&event), EventQueue::Next::kOverflow);
}

TEST(EventQueueTest, OverflowWakesAWaitingReader) {
  EventQueue queue(1);
  int wakes = 0;
  queue.SetWaker([&] { ++wakes; });
  v1::Event event;
  ASSERT_EQ(queue.Take(&event), EventQueue::Next::kWait);
  queue.Push(Kind(v1::EVENT_KIND_STARTED));
  EXPECT_EQ(wakes, 1);
  queue.Push(Kind(v1::EVENT_KIND_STARTED));  // overflow: the reader is not waiting now
  EXPECT_EQ(queue.Take(&event), EventQueue::Next::kOverflow);
}

TEST(EventQueueTest, CloseEndsAfterTheQueuedEvents) {
  EventQueue queue(8);
  int wakes = 0;
  queue.SetWaker([&] { ++wakes; });
  queue.Push(Kind(v1::EVENT_KIND_STOPPED));
  queue.Close();
  EXPECT_EQ(wakes, 0);
  v1::Event event;
  ASSERT_EQ(queue.Take(&event), EventQueue::Next::kEvent);
  EXPECT_EQ(queue.Take(&event), EventQueue::Next::kEnd);
  queue.Push(Kind(v1::EVENT_KIND_STARTED));  // after Close: dropped
  EXPECT_EQ(queue.Take(&event), EventQueue::Next::kEnd);
}

TEST(EventQueueTest, CloseWakesAWaitingReader) {
  EventQueue queue(8);
  int wakes = 0;
  queue.SetWaker([&] { ++wakes; });
  v1::Event event;
  ASSERT_EQ(queue.Take(&event), EventQueue::Next::kWait);
  queue.Close();
  EXPECT_EQ(wakes, 1);
  EXPECT_EQ(queue.Take(&event), EventQueue::Next::kEnd);
}

TEST(EventHubTest, PushesEachEventToEverySubscriberAndDropsDetachedOnes) {
  EventHub hub;
  auto a = std::make_shared<EventQueue>(8);
  auto b = std::make_shared<EventQueue>(8);
  hub.Subscribe(a, [] {});
  hub.Subscribe(b, [] {});
  EXPECT_EQ(hub.subscribers(), 2);
  hub.Publish([] { return std::vector<v1::Event>{Kind(v1::EVENT_KIND_STARTED)}; });
  EXPECT_EQ(a->size(), 1u);
  EXPECT_EQ(b->size(), 1u);
  b->Detach();
  hub.Publish([] { return std::vector<v1::Event>{Kind(v1::EVENT_KIND_EXITED)}; });
  EXPECT_EQ(a->size(), 2u);
  EXPECT_EQ(b->size(), 0u);
  EXPECT_EQ(hub.subscribers(), 1);
}

TEST(EventHubTest, ASubscriberThatFallsBehindDoesNotStopTheOthers) {
  EventHub hub;
  auto slow = std::make_shared<EventQueue>(1);
  auto fast = std::make_shared<EventQueue>(8);
  hub.Subscribe(slow, [] {});
  hub.Subscribe(fast, [] {});
  for (int i = 0; i < 3; ++i) {
    hub.Publish([] { return std::vector<v1::Event>{Kind(v1::EVENT_KIND_STARTED)}; });
  }
  EXPECT_TRUE(slow->overflowed());
  EXPECT_EQ(fast->size(), 3u);
  EXPECT_EQ(hub.subscribers(), 1);
}

TEST(EventHubTest, CloseEndsEveryStreamAndLaterSubscribersGetTheSnapshotOnly) {
  EventHub hub;
  auto a = std::make_shared<EventQueue>(8);
  hub.Subscribe(a, [] {});
  hub.Close();
  v1::Event event;
  EXPECT_EQ(a->Take(&event), EventQueue::Next::kEnd);
  auto late = std::make_shared<EventQueue>(8);
  bool snapshot = false;
  hub.Subscribe(late, [&] { snapshot = true; });
  EXPECT_TRUE(snapshot);
  EXPECT_EQ(late->Take(&event), EventQueue::Next::kEnd);
  EXPECT_EQ(hub.subscribers(), 0);
}

// A stopping supervisor waits for its closed streams to end (their readers
// take the last events and let go), woken by the last Detach, never longer
// than its limit for a reader that does not read.
TEST(EventHubTest, AwaitClosedStreamsWaitsForTheReadersToLetGoWithinItsLimit) {
  EventHub hub;
  auto reading = std::make_shared<EventQueue>(8);
  auto stuck = std::make_shared<EventQueue>(8);
  hub.Subscribe(reading, [] {});
  hub.Subscribe(stuck, [] {});
  hub.Publish([] { return std::vector<v1::Event>{Kind(v1::EVENT_KIND_STARTED)}; });
  hub.Close();
  std::thread reader([reading] {
    v1::Event event;
    while (reading->Take(&event) == EventQueue::Next::kEvent) {
    }
    reading->Detach();  // as the stream's OnDone
  });
  // `stuck` never lets go: the wait ends at its limit, saying so.
  const absl::Time start = absl::Now();
  EXPECT_FALSE(hub.AwaitClosedStreams(absl::Milliseconds(200)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
  reader.join();
  EXPECT_TRUE(reading->detached());

  // Both let go: the wait returns true (a second Close adds nothing).
  EventHub second;
  auto a = std::make_shared<EventQueue>(8);
  second.Subscribe(a, [] {});
  second.Close();
  std::thread later([a] {
    absl::SleepFor(absl::Milliseconds(50));  // the reader is still busy
    a->Detach();
  });
  EXPECT_TRUE(second.AwaitClosedStreams(absl::Seconds(10)));
  later.join();
  second.Close();
  EXPECT_TRUE(second.AwaitClosedStreams(absl::Milliseconds(1)));  // nothing left to wait for
}

// The snapshot and the events agree: with a publisher that counts (state
// n, event "n happened"), every subscriber's snapshot n is followed by
// exactly the events n+1, n+2, ...: none lost, none twice.
TEST(EventHubTest, SnapshotAndFirstEventNeverRace) {
  EventHub hub;
  int state = 0;  // guarded by the hub's lock (Publish and Subscribe run under it)
  std::atomic<bool> done{false};
  std::thread publisher([&] {
    for (int i = 0; i < 20000; ++i) {
      hub.Publish([&] {
        ++state;
        v1::Event event;
        event.set_pid(state);
        return std::vector<v1::Event>{event};
      });
    }
    done = true;
  });
  int checked = 0;
  while (!done) {
    int snapshot = -1;
    auto reader = std::make_shared<EventQueue>(1 << 20);
    hub.Subscribe(reader, [&] { snapshot = state; });
    for (int k = 0; k < 50 && !done; ++k) std::this_thread::yield();
    reader->Close();
    v1::Event event;
    int expected = snapshot + 1;
    uint64_t sequence = 1;
    while (reader->Take(&event) == EventQueue::Next::kEvent) {
      ASSERT_EQ(event.pid(), expected);
      ASSERT_EQ(event.sequence(), sequence);
      ++expected;
      ++sequence;
    }
    reader->Detach();
    ++checked;
  }
  publisher.join();
  EXPECT_GT(checked, 0);
}

}  // namespace
}  // namespace appkit
