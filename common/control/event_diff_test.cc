#include "common/control/event_diff.h"

#include "absl/time/clock.h"
#include "common/base/time_format.h"
#include "gtest/gtest.h"

namespace appkit {
namespace {

TEST(ShortStateNameTest, StripsThePrefixOnly) {
  EXPECT_EQ(ShortStateName("GUARDIAN_STATE_FATAL", "GUARDIAN_STATE_"), "FATAL");
  EXPECT_EQ(ShortStateName("WORKER_STATE_WAITING_TO_RESTART", "WORKER_STATE_"),
            "WAITING_TO_RESTART");
  EXPECT_EQ(ShortStateName("OTHER", "WORKER_STATE_"), "OTHER");
}

TEST(SubjectEventsTest, TheEndedRunIsFoundInHistory) {
  const absl::Time now = absl::FromUnixSeconds(50);
  v1::ProcessRun running;
  running.set_pid(7);
  SubjectView before;
  before.state = "RUNNING";
  before.current = &running;
  google::protobuf::RepeatedPtrField<v1::ProcessRun> history;
  v1::ProcessRun* ended = history.Add();
  ended->set_pid(7);
  *ended->mutable_end_time() = ToProtoTime(now);
  ended->set_exitcode(2);
  SubjectView after;
  after.state = "STARTING";
  after.history = &history;  // no current run yet
  auto events = SubjectEvents("x", before, after, now);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind(), v1::EVENT_KIND_EXITED);
  EXPECT_EQ(events[0].exitcode(), 2);
  EXPECT_EQ(events[0].pid(), 7);
}

TEST(SubjectEventsTest, NoRunsNoStateChangeNoEvents) {
  SubjectView view;
  view.state = "STARTING";
  EXPECT_TRUE(SubjectEvents("x", view, view, absl::Now()).empty());
}

}  // namespace
}  // namespace appkit
