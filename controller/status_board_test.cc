// The RPCs' snapshot: what the loop publishes is what other threads read,
// while the loop keeps publishing.
#include "controller/status_board.h"

#include <unistd.h>

#include <atomic>
#include <thread>

#include "gtest/gtest.h"

namespace appkit::controller {
namespace {

std::vector<WorkerInfo> Infos(int count) {
  std::vector<WorkerInfo> infos;
  for (int i = 0; i < count; ++i) {
    WorkerConfig config;
    config.name = "w" + std::to_string(i);
    infos.push_back(InfoOf(i, config));
  }
  return infos;
}

TEST(StatusBoardTest, BeforeAnythingIsPublishedEveryWorkerIsStarting) {
  StatusBoard board(Infos(2));
  v1::ListWorkersResponse response = board.ListWorkers();
  EXPECT_EQ(response.controller_pid(), getpid());
  EXPECT_FALSE(response.quit_requested());
  ASSERT_EQ(response.workers_size(), 2);
  EXPECT_EQ(response.workers(1).name(), "w1");
  EXPECT_EQ(response.workers(1).state(), v1::WORKER_STATE_STARTING);
  EXPECT_EQ(board.DebugJson(), "");
}

TEST(StatusBoardTest, WhatIsPublishedIsWhatIsRead) {
  StatusBoard board(Infos(2));
  WorkerRecord record;
  record.state = WorkerState::kRunning;
  record.pid = 42;
  record.start_time = absl::Now();
  board.Publish(1, record);
  board.PublishQuitRequested();
  board.PublishDebugJson("{}\n");
  v1::ListWorkersResponse response = board.ListWorkers();
  EXPECT_TRUE(response.quit_requested());
  EXPECT_EQ(response.workers(0).state(), v1::WORKER_STATE_STARTING);
  EXPECT_EQ(response.workers(1).state(), v1::WORKER_STATE_RUNNING);
  EXPECT_EQ(response.workers(1).current().pid(), 42);
  EXPECT_EQ(board.DebugJson(), "{}\n");
  EXPECT_NE(board.RenderDebugJson(absl::Now()).find("\"pid\": 42"), std::string::npos);
}

// The status file's content is ListWorkers() exactly, and is given once
// per batch of publications.
TEST(StatusBoardTest, StatusFileContentIsTheListAndComesOncePerChange) {
  StatusBoard board(Infos(3));
  auto first = board.TakeStatusFileContent();
  ASSERT_TRUE(first.has_value());
  v1::ListWorkersResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(*first));
  EXPECT_EQ(parsed.SerializeAsString(), board.ListWorkers().SerializeAsString());
  EXPECT_FALSE(board.TakeStatusFileContent().has_value());

  WorkerRecord record;
  record.state = WorkerState::kRunning;
  record.pid = 42;
  record.start_time = absl::Now();
  board.Publish(2, record);
  record.pid = 43;
  board.Publish(0, record);
  auto second = board.TakeStatusFileContent();
  ASSERT_TRUE(second.has_value());
  ASSERT_TRUE(parsed.ParseFromString(*second));
  EXPECT_EQ(parsed.SerializeAsString(), board.ListWorkers().SerializeAsString());
  EXPECT_EQ(parsed.workers(2).current().pid(), 42);
  EXPECT_EQ(parsed.workers(0).current().pid(), 43);
  EXPECT_FALSE(board.TakeStatusFileContent().has_value());

  board.PublishQuitRequested();
  auto third = board.TakeStatusFileContent();
  ASSERT_TRUE(third.has_value());
  ASSERT_TRUE(parsed.ParseFromString(*third));
  EXPECT_TRUE(parsed.quit_requested());

  // AddWorker / RemoveWorker change the file as they change the list.
  WorkerInfo added;
  added.index = 3;
  added.name = "w3";
  board.Add(added);
  board.Remove(1);
  auto fourth = board.TakeStatusFileContent();
  ASSERT_TRUE(fourth.has_value());
  ASSERT_TRUE(parsed.ParseFromString(*fourth));
  EXPECT_EQ(parsed.SerializeAsString(), board.ListWorkers().SerializeAsString());
  ASSERT_EQ(parsed.workers_size(), 3);
  EXPECT_EQ(parsed.workers(2).name(), "w3");
}

TEST(StatusBoardTest, AnAddedWorkerComesLastAndARemovedOneIsGone) {
  StatusBoard board(Infos(3));
  WorkerInfo added;
  added.index = 3;
  added.name = "w3";
  board.Add(added);
  board.Remove(1);
  v1::ListWorkersResponse response = board.ListWorkers();
  ASSERT_EQ(response.workers_size(), 3);
  EXPECT_EQ(response.workers(0).name(), "w0");
  EXPECT_EQ(response.workers(1).name(), "w2");
  EXPECT_EQ(response.workers(2).name(), "w3");
  EXPECT_EQ(response.workers(2).index(), 3);
  EXPECT_TRUE(board.HasWorker("w3"));
  EXPECT_FALSE(board.HasWorker("w1"));
  const std::string json = board.RenderDebugJson(absl::Now());
  EXPECT_EQ(json.find("\"w1\""), std::string::npos);
  EXPECT_NE(json.find("\"w3\""), std::string::npos);
}

TEST(StatusBoardTest, ReadersOnOtherThreadsSeeWholeRecords) {
  StatusBoard board(Infos(8));
  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!done) {
        const v1::ListWorkersResponse response = board.ListWorkers();
        for (const v1::WorkerStatus& worker : response.workers()) {
          // Published records always have restart_count == pid.
          if (worker.restart_count() != worker.current().pid()) ++torn;
        }
      }
    });
  }
  for (int round = 1; round <= 2000; ++round) {
    WorkerRecord record;
    record.pid = round;
    record.restart_count = round;
    record.start_time = absl::Now();
    board.Publish(round % 8, record);
  }
  done = true;
  for (std::thread& reader : readers) reader.join();
  EXPECT_EQ(torn, 0);
}

}  // namespace
}  // namespace appkit::controller
