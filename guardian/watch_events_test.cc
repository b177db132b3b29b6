#include "guardian/watch_events.h"

#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "common/base/time_format.h"
#include "gtest/gtest.h"

namespace appkit::guardian {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1000);

v1::ProcessRun Running(int pid) {
  v1::ProcessRun run;
  run.set_pid(pid);
  *run.mutable_start_time() = ToProtoTime(kNow - absl::Seconds(5));
  run.set_description("running");
  return run;
}

v1::ProcessRun Ended(int pid, int exitcode, const std::string& description,
                     const std::string& error = "") {
  v1::ProcessRun run = Running(pid);
  *run.mutable_end_time() = ToProtoTime(kNow);
  run.set_exitcode(exitcode);
  run.set_description(description);
  run.set_error(error);
  return run;
}

v1::GuardianStatus Status(v1::GuardianState state) {
  v1::GuardianStatus status;
  status.set_state(state);
  return status;
}

v1::GuardianStatus With(v1::GuardianState state, const v1::ProcessRun& executor) {
  v1::GuardianStatus status = Status(state);
  *status.mutable_executor() = executor;
  return status;
}

std::vector<v1::EventKind> Kinds(const std::vector<v1::Event>& events) {
  std::vector<v1::EventKind> kinds;
  for (const v1::Event& event : events) kinds.push_back(event.kind());
  return kinds;
}

struct Cell {
  std::string name;
  v1::GuardianStatus before;
  v1::GuardianStatus after;
  std::vector<v1::EventKind> kinds;
};

std::vector<Cell> Table() {
  using namespace v1;  // NOLINT: the enums, in a table
  std::vector<Cell> cells;
  cells.push_back({"no change",
                   With(GUARDIAN_STATE_RUNNING, Running(10)),
                   With(GUARDIAN_STATE_RUNNING, Running(10)),
                   {}});
  cells.push_back({"spawned",
                   Status(GUARDIAN_STATE_STARTING),
                   With(GUARDIAN_STATE_STARTING, Running(10)),
                   {EVENT_KIND_STARTED}});
  cells.push_back({"entry running: state only",
                   With(GUARDIAN_STATE_STARTING, Running(10)),
                   With(GUARDIAN_STATE_RUNNING, Running(10)),
                   {}});
  {
    GuardianStatus ready = With(GUARDIAN_STATE_RUNNING, Running(10));
    ready.set_ready(true);
    cells.push_back(
        {"ready", With(GUARDIAN_STATE_RUNNING, Running(10)), ready, {EVENT_KIND_READY}});
  }
  {
    GuardianStatus after =
        With(GUARDIAN_STATE_WAITING_TO_RESTART, Ended(10, 1, "exited with code 1"));
    *after.mutable_restart_at() = ToProtoTime(kNow + absl::Milliseconds(1500));
    cells.push_back({"crash, restart scheduled",
                     With(GUARDIAN_STATE_RUNNING, Running(10)),
                     after,
                     {EVENT_KIND_EXITED, EVENT_KIND_RESTART_SCHEDULED}});
  }
  {
    GuardianStatus before = Status(GUARDIAN_STATE_WAITING_TO_RESTART);
    *before.mutable_restart_at() = ToProtoTime(kNow);
    GuardianStatus after = before;
    *after.mutable_restart_at() = ToProtoTime(kNow + absl::Seconds(1));
    cells.push_back({"restart moved", before, after, {EVENT_KIND_RESTART_SCHEDULED}});
  }
  {
    GuardianStatus before = Status(GUARDIAN_STATE_WAITING_TO_RESTART);
    *before.mutable_executor() = Ended(10, 1, "exited with code 1");
    *before.mutable_restart_at() = ToProtoTime(kNow);
    GuardianStatus after = With(GUARDIAN_STATE_STARTING, Running(11));
    *after.add_history() = Ended(10, 1, "exited with code 1");
    cells.push_back({"restart due, spawned", before, after, {EVENT_KIND_STARTED}});
  }
  {
    GuardianStatus after = With(GUARDIAN_STATE_STARTING, Running(11));
    *after.add_history() = Ended(10, -9, "killed by signal 9 (SIGKILL)");
    cells.push_back({"ended and replaced in one step",
                     With(GUARDIAN_STATE_RUNNING, Running(10)),
                     after,
                     {EVENT_KIND_EXITED, EVENT_KIND_STARTED}});
  }
  {
    GuardianStatus after = With(GUARDIAN_STATE_STOPPING, Running(10));
    after.set_quit_reason("SIGTERM");
    cells.push_back({"quit requested",
                     With(GUARDIAN_STATE_RUNNING, Running(10)),
                     after,
                     {EVENT_KIND_QUIT_REQUESTED}});
  }
  {
    GuardianStatus before = With(GUARDIAN_STATE_STOPPING, Running(10));
    before.set_quit_reason("SIGTERM");
    GuardianStatus after = With(GUARDIAN_STATE_EXITED, Ended(10, 0, "exited with code 0"));
    after.set_quit_reason("SIGTERM");
    cells.push_back({"stopped", before, after, {EVENT_KIND_EXITED, EVENT_KIND_STOPPED}});
  }
  {
    GuardianStatus after = With(GUARDIAN_STATE_EXITED, Ended(10, 0, "exited with code 0"));
    after.set_quit_reason("executor exited with code 0");
    cells.push_back({"entry returned",
                     With(GUARDIAN_STATE_RUNNING, Running(10)),
                     after,
                     {EVENT_KIND_QUIT_REQUESTED, EVENT_KIND_EXITED, EVENT_KIND_STOPPED}});
  }
  cells.push_back({"fatal",
                   With(GUARDIAN_STATE_RUNNING, Running(10)),
                   With(GUARDIAN_STATE_FATAL, Ended(10, 3, "exited with code 3", "boom")),
                   {EVENT_KIND_EXITED, EVENT_KIND_FATAL}});
  cells.push_back({"still fatal",
                   With(GUARDIAN_STATE_FATAL, Ended(10, 3, "exited with code 3")),
                   With(GUARDIAN_STATE_FATAL, Ended(10, 3, "exited with code 3")),
                   {}});
  cells.push_back({"watchdog kill under way",
                   With(GUARDIAN_STATE_RUNNING, Running(10)),
                   [] {
                     GuardianStatus s = With(GUARDIAN_STATE_STOPPING, Running(10));
                     s.mutable_executor()->set_error("watchdog: no heartbeat for 200ms");
                     return s;
                   }(),
                   {EVENT_KIND_WATCHDOG}});
  cells.push_back(
      {"watchdog kill done",
       With(GUARDIAN_STATE_RUNNING, Running(10)),
       With(GUARDIAN_STATE_WAITING_TO_RESTART,
            Ended(10, -9, "killed by signal 9 (SIGKILL)", "watchdog: no heartbeat for 200ms")),
       {EVENT_KIND_WATCHDOG, EVENT_KIND_EXITED}});
  {
    GuardianStatus before = With(GUARDIAN_STATE_STOPPING, Running(10));
    before.mutable_executor()->set_error("watchdog: no heartbeat for 200ms");
    GuardianStatus after = With(GUARDIAN_STATE_WAITING_TO_RESTART,
                                Ended(10, -9, "killed", "watchdog: no heartbeat for 200ms"));
    cells.push_back({"watchdog said once", before, after, {EVENT_KIND_EXITED}});
  }
  cells.push_back({"spawned and gone in one step",
                   Status(GUARDIAN_STATE_STARTING),
                   With(GUARDIAN_STATE_STARTING, Ended(12, 127, "exited with code 127")),
                   {EVENT_KIND_STARTED, EVENT_KIND_EXITED}});
  return cells;
}

TEST(GuardianEventsTest, EachCellOfTheTable) {
  for (const Cell& cell : Table()) {
    SCOPED_TRACE(cell.name);
    EXPECT_EQ(Kinds(GuardianEvents(cell.before, cell.after, kNow)), cell.kinds);
  }
}

TEST(GuardianEventsTest, EventsCarryTheSubjectStateTimeAndPid) {
  v1::GuardianStatus after =
      With(v1::GUARDIAN_STATE_WAITING_TO_RESTART, Ended(10, 1, "exited with code 1", "bad port"));
  *after.mutable_restart_at() = ToProtoTime(kNow + absl::Milliseconds(1500));
  auto events = GuardianEvents(With(v1::GUARDIAN_STATE_RUNNING, Running(10)), after, kNow);
  ASSERT_EQ(events.size(), 2u);
  const v1::Event& exited = events[0];
  EXPECT_EQ(exited.subject(), "executor");
  EXPECT_EQ(exited.state(), "WAITING_TO_RESTART");
  EXPECT_EQ(FromProtoTime(exited.time()), kNow);
  EXPECT_EQ(exited.pid(), 10);
  EXPECT_EQ(exited.exitcode(), 1);
  EXPECT_EQ(exited.description(), "exited with code 1");
  EXPECT_EQ(exited.error(), "bad port");
  EXPECT_EQ(exited.sequence(), 0u);  // numbered by each subscriber's queue
  const v1::Event& scheduled = events[1];
  EXPECT_EQ(FromProtoTime(scheduled.restart_at()), kNow + absl::Milliseconds(1500));
  EXPECT_EQ(scheduled.description(), "restart in 1.5s");
  EXPECT_EQ(scheduled.pid(), 0);
}

TEST(GuardianEventsTest, QuitRequestedSaysWhy) {
  v1::GuardianStatus after = With(v1::GUARDIAN_STATE_STOPPING, Running(10));
  after.set_quit_reason("RequestQuit over the control socket");
  auto events = GuardianEvents(With(v1::GUARDIAN_STATE_RUNNING, Running(10)), after, kNow);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].description(), "RequestQuit over the control socket");
  EXPECT_EQ(events[0].state(), "STOPPING");
  EXPECT_EQ(events[0].pid(), 10);
}

TEST(GuardianEventsTest, FatalCarriesTheLastError) {
  auto events =
      GuardianEvents(With(v1::GUARDIAN_STATE_RUNNING, Running(10)),
                     With(v1::GUARDIAN_STATE_FATAL, Ended(10, 3, "exited", "boom")), kNow);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].kind(), v1::EVENT_KIND_FATAL);
  EXPECT_EQ(events[1].state(), "FATAL");
  EXPECT_EQ(events[1].error(), "boom");
}

}  // namespace
}  // namespace appkit::guardian
