// appkitctl's printing: 64-bit fields as JSON numbers, compact durations.
#include "client/ctl/ctl_output.h"

#include "gtest/gtest.h"
#include "proto/controller.pb.h"
#include "proto/guardian.pb.h"

namespace appkit::ctl {
namespace {

TEST(CtlOutputTest, Int64FieldsPrintAsNumbersEverywhereInTheMessage) {
  v1::ListWorkersResponse list;
  list.set_controller_pid(4242);
  v1::WorkerStatus* worker = list.add_workers();
  worker->set_name("w1");
  worker->mutable_current()->set_pid(17247);
  worker->mutable_current()->mutable_start_time()->set_seconds(1700000000);
  worker->add_history()->set_pid(17000);
  OrderedJson json = ProtoToJson(list);
  EXPECT_EQ(json["controllerPid"], 4242);
  EXPECT_TRUE(json["controllerPid"].is_number_integer());
  EXPECT_EQ(json["workers"][0]["current"]["pid"], 17247);
  EXPECT_EQ(json["workers"][0]["history"][0]["pid"], 17000);
  // Well-known types keep their JSON forms; defaults are printed.
  EXPECT_EQ(json["workers"][0]["current"]["startTime"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(json["workers"][0]["restartCount"], 0);
  EXPECT_EQ(json["workers"][0]["state"], "WORKER_STATE_UNSPECIFIED");
}

TEST(CtlOutputTest, GuardianStatusKeepsItsKeyOrder) {
  v1::GuardianStatus status;
  status.set_guardian_pid(7);
  status.mutable_executor()->set_pid(8);
  OrderedJson json = ProtoToJson(status);
  EXPECT_EQ(json.begin().key(), "guardianPid");
  EXPECT_EQ(json["guardianPid"], 7);
  EXPECT_EQ(json["executor"]["pid"], 8);
}

TEST(CtlOutputTest, CompactDurations) {
  EXPECT_EQ(Compact(absl::Milliseconds(850)), "850ms");
  EXPECT_EQ(Compact(absl::Seconds(42)), "42s");
  EXPECT_EQ(Compact(absl::Seconds(303)), "5m03s");
  EXPECT_EQ(Compact(absl::Minutes(125)), "2h05m");
  EXPECT_EQ(Compact(absl::Hours(76)), "3d04h");
  EXPECT_EQ(Compact(-absl::Seconds(1)), "0ms");
}

TEST(CtlOutputTest, StateNamesLoseTheirPrefix) {
  EXPECT_EQ(StateName(v1::GUARDIAN_STATE_WAITING_TO_RESTART, true), "WAITING_TO_RESTART");
  EXPECT_EQ(StateName(v1::WORKER_STATE_RUNNING, false), "RUNNING");
}

}  // namespace
}  // namespace appkit::ctl
