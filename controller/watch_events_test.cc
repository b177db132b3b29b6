#include "controller/watch_events.h"

#include <string>
#include <vector>

#include "common/base/time_format.h"
#include "gtest/gtest.h"

namespace appkit::controller {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1000);

v1::WorkerStatus Worker(const std::string& name, v1::WorkerState state, int pid = 0,
                        bool ended = false) {
  v1::WorkerStatus worker;
  worker.set_name(name);
  worker.set_state(state);
  if (pid != 0) {
    worker.mutable_current()->set_pid(pid);
    if (ended) {
      *worker.mutable_current()->mutable_end_time() = ToProtoTime(kNow);
      worker.mutable_current()->set_exitcode(-9);
      worker.mutable_current()->set_description("killed by signal 9 (SIGKILL)");
    }
  }
  return worker;
}

std::vector<v1::EventKind> Kinds(const std::vector<v1::Event>& events) {
  std::vector<v1::EventKind> kinds;
  for (const v1::Event& event : events) kinds.push_back(event.kind());
  return kinds;
}

struct Cell {
  std::string name;
  v1::WorkerStatus before;
  v1::WorkerStatus after;
  std::vector<v1::EventKind> kinds;
};

TEST(WorkerEventsTest, EachCellOfTheTable) {
  using namespace v1;  // NOLINT: the enums, in a table
  v1::WorkerStatus waiting = Worker("w", WORKER_STATE_WAITING_TO_RESTART, 10, true);
  *waiting.mutable_start_after() = ToProtoTime(kNow + absl::Seconds(1));
  v1::WorkerStatus fatal = Worker("w", WORKER_STATE_FATAL, 10, true);
  v1::WorkerStatus ready = Worker("w", WORKER_STATE_RUNNING, 10);
  ready.set_ready(true);
  std::vector<Cell> cells = {
      {"no change",
       Worker("w", WORKER_STATE_RUNNING, 10),
       Worker("w", WORKER_STATE_RUNNING, 10),
       {}},
      {"started",
       Worker("w", WORKER_STATE_STARTING),
       Worker("w", WORKER_STATE_RUNNING, 10),
       {EVENT_KIND_STARTED}},
      {"ready", Worker("w", WORKER_STATE_RUNNING, 10), ready, {EVENT_KIND_READY}},
      {"crash, restart later",
       Worker("w", WORKER_STATE_RUNNING, 10),
       waiting,
       {EVENT_KIND_EXITED, EVENT_KIND_RESTART_SCHEDULED}},
      {"crash, fatal",
       Worker("w", WORKER_STATE_RUNNING, 10),
       fatal,
       {EVENT_KIND_EXITED, EVENT_KIND_FATAL}},
      {"quit requested",
       Worker("w", WORKER_STATE_RUNNING, 10),
       Worker("w", WORKER_STATE_STOPPING, 10),
       {EVENT_KIND_QUIT_REQUESTED}},
      {"stopped",
       Worker("w", WORKER_STATE_STOPPING, 10),
       Worker("w", WORKER_STATE_EXITED, 10, true),
       {EVENT_KIND_EXITED, EVENT_KIND_STOPPED}},
      {"exited, not restarted",
       Worker("w", WORKER_STATE_RUNNING, 10),
       Worker("w", WORKER_STATE_EXITED, 10, true),
       {EVENT_KIND_EXITED, EVENT_KIND_STOPPED}},
  };
  for (const Cell& cell : cells) {
    SCOPED_TRACE(cell.name);
    auto events = WorkerEvents(&cell.before, cell.after, kNow);
    EXPECT_EQ(Kinds(events), cell.kinds);
    for (const v1::Event& event : events) EXPECT_EQ(event.subject(), "w");
  }
}

TEST(WorkerEventsTest, ExitedCarriesTheRunAndTheState) {
  auto events =
      WorkerEvents(&static_cast<const v1::WorkerStatus&>(Worker("w", v1::WORKER_STATE_RUNNING, 10)),
                   Worker("w", v1::WORKER_STATE_EXITED, 10, true), kNow);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].pid(), 10);
  EXPECT_EQ(events[0].exitcode(), -9);
  EXPECT_EQ(events[0].description(), "killed by signal 9 (SIGKILL)");
  EXPECT_EQ(events[0].state(), "EXITED");
}

TEST(PoolEventsTest, AddedAndRemovedWorkers) {
  google::protobuf::RepeatedPtrField<v1::WorkerStatus> before, after;
  *before.Add() = Worker("a", v1::WORKER_STATE_RUNNING, 10);
  *before.Add() = Worker("gone", v1::WORKER_STATE_EXITED, 11, true);
  *after.Add() = Worker("a", v1::WORKER_STATE_RUNNING, 10);
  *after.Add() = Worker("new", v1::WORKER_STATE_RUNNING, 12);
  auto events = PoolEvents(before, after, kNow);
  ASSERT_EQ(Kinds(events),
            (std::vector<v1::EventKind>{v1::EVENT_KIND_WORKER_ADDED, v1::EVENT_KIND_STARTED,
                                        v1::EVENT_KIND_WORKER_REMOVED}));
  EXPECT_EQ(events[0].subject(), "new");
  EXPECT_EQ(events[0].state(), "RUNNING");
  EXPECT_EQ(events[1].pid(), 12);
  EXPECT_EQ(events[2].subject(), "gone");
}

TEST(PoolEventsTest, SameWorkersNoEvents) {
  google::protobuf::RepeatedPtrField<v1::WorkerStatus> pool;
  *pool.Add() = Worker("a", v1::WORKER_STATE_RUNNING, 10);
  EXPECT_TRUE(PoolEvents(pool, pool, kNow).empty());
}

}  // namespace
}  // namespace appkit::controller
