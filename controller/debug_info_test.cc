// The debug file format (pyappkit's), key by key.
#include "controller/debug_info.h"

#include "common/base/time_format.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace appkit::controller {
namespace {

absl::Time At(int64_t micros) { return absl::FromUnixMicros(1795687200000000 + micros); }

TEST(DebugInfoTest, RendersPyappkitFormat) {
  v1::WorkerStatus running;
  running.set_index(0);
  running.set_name("worker-1");
  running.set_entry("demo:worker_main");
  running.set_stdout_filename("/tmp/out");
  running.set_stderr_filename("/tmp/err");
  running.set_running(true);
  running.mutable_current()->set_pid(1234);
  *running.mutable_current()->mutable_start_time() = ToProtoTime(At(100000));
  v1::ProcessRun* old = running.add_history();
  old->set_pid(1200);
  old->set_exitcode(-9);
  *old->mutable_start_time() = ToProtoTime(At(1));
  *old->mutable_end_time() = ToProtoTime(At(2));

  v1::WorkerStatus waiting;
  waiting.set_index(1);
  waiting.set_name("worker-2");
  *waiting.mutable_start_after() = ToProtoTime(At(5000000));

  std::string text = RenderDebugInfo(At(123456), {running, waiting});
  nlohmann::ordered_json json = nlohmann::ordered_json::parse(text);
  std::vector<std::string> keys;
  for (auto& [key, value] : json.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"updated_at", "worker_info_list"}));
  EXPECT_EQ(json["updated_at"], "2026-11-26 10:00:00.123456");

  const auto& first = json["worker_info_list"][0];
  keys.clear();
  for (auto& [key, value] : first.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"index", "entry", "name", "stdout_filename",
                                            "stderr_filename", "pid", "start_after", "start_time",
                                            "history"}));
  EXPECT_EQ(first["index"], 0);
  EXPECT_EQ(first["entry"], "demo:worker_main");
  EXPECT_EQ(first["name"], "worker-1");
  EXPECT_EQ(first["pid"], 1234);
  EXPECT_TRUE(first["start_after"].is_null());
  EXPECT_EQ(first["start_time"], "2026-11-26 10:00:00.100000");
  ASSERT_EQ(first["history"].size(), 1u);
  EXPECT_EQ(first["history"][0]["pid"], 1200);
  EXPECT_EQ(first["history"][0]["exitcode"], -9);
  EXPECT_EQ(first["history"][0]["start_time"], "2026-11-26 10:00:00.000001");
  EXPECT_EQ(first["history"][0]["end_time"], "2026-11-26 10:00:00.000002");

  const auto& second = json["worker_info_list"][1];
  EXPECT_TRUE(second["pid"].is_null());
  EXPECT_TRUE(second["start_time"].is_null());
  EXPECT_EQ(second["start_after"], "2026-11-26 10:00:05.000000");
  EXPECT_TRUE(second["history"].empty());
  // No error: pyappkit's four keys only.
  EXPECT_FALSE(first["history"][0].contains("error"));
}

TEST(DebugInfoTest, ARunWithAnErrorGetsAnExtraErrorKey) {
  v1::WorkerStatus worker;
  worker.set_name("w");
  v1::ProcessRun* run = worker.add_history();
  run->set_pid(7);
  run->set_exitcode(1);
  run->set_error("cannot start: pid file /x.pid is held");
  nlohmann::ordered_json json = nlohmann::ordered_json::parse(RenderDebugInfo(At(0), {worker}));
  const auto& entry = json["worker_info_list"][0]["history"][0];
  std::vector<std::string> keys;
  for (auto& [key, value] : entry.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"pid", "exitcode", "start_time", "end_time", "error"}));
  EXPECT_EQ(entry["error"], "cannot start: pid file /x.pid is held");
}

}  // namespace
}  // namespace appkit::controller
