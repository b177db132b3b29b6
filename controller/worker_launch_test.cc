// PrepareLaunch with real files: the launch message says what the worker
// is, and its fds are stdout, stderr and the channel at the numbers of
// proto/wire.h.
#include "controller/worker_launch.h"

#include <unistd.h>

#include "gtest/gtest.h"
#include "proto/launch.pb.h"
#include "testing/temp_dir.h"

namespace appkit::controller {
namespace {

WorkerConfig Worker(const testing::TempDir& dir) {
  WorkerConfig worker;
  worker.name = "w1";
  worker.entry = "demo:worker_main";
  worker.resolved_entry = "/lib/libdemo.so:worker_main";
  (*worker.args.mutable_fields())["n"].set_number_value(3);
  worker.pid_filename = dir.File("w1.pid");
  worker.stdout_filename = dir.File("w1.out");
  worker.stderr_filename = dir.File("w1.err");
  return worker;
}

TEST(WorkerLaunchTest, TheMessageSaysWhatTheWorkerIs) {
  testing::TempDir dir;
  absl::StatusOr<PreparedLaunch> launch = PrepareLaunch(Worker(dir), 1024, UniqueFd());
  ASSERT_TRUE(launch.ok()) << launch.status();
  v1::WorkerLaunch message;
  ASSERT_TRUE(message.ParseFromString(launch->request));
  EXPECT_EQ(message.name(), "w1");
  EXPECT_EQ(message.entry(), "demo:worker_main");
  EXPECT_EQ(message.resolved_entry(), "/lib/libdemo.so:worker_main");
  EXPECT_EQ(message.args().fields().at("n").number_value(), 3);
  EXPECT_FALSE(message.has_logging_config());
  EXPECT_EQ(message.pid_filename(), dir.File("w1.pid"));
  EXPECT_EQ(message.stdout_filename(), dir.File("w1.out"));
  EXPECT_EQ(message.stderr_filename(), dir.File("w1.err"));
  EXPECT_EQ(message.user_fd_limit(), 1024u);
  EXPECT_FALSE(launch->cgroup);
}

TEST(WorkerLaunchTest, TheWorkerGetsItsFilesAndItsChannelAtTheWireNumbers) {
  testing::TempDir dir;
  absl::StatusOr<PreparedLaunch> launch = PrepareLaunch(Worker(dir), 0, UniqueFd());
  ASSERT_TRUE(launch.ok()) << launch.status();
  const std::vector<std::pair<int, int>> fds = launch->fds();
  ASSERT_EQ(fds.size(), 3u);
  EXPECT_EQ(fds[0], std::make_pair(launch->stdio.out.get(), 1));
  EXPECT_EQ(fds[1], std::make_pair(launch->stdio.err.get(), 2));
  EXPECT_EQ(fds[2], std::make_pair(launch->channel.theirs.get(), wire::kWorkerChannelFd));
  EXPECT_TRUE(testing::FileExists(dir.File("w1.out")));
  EXPECT_TRUE(testing::FileExists(dir.File("w1.err")));
  // The channel works end to end.
  EXPECT_TRUE(SendToWorker(launch->channel.ours.get(), wire::Message::kPing));
  char byte = 0;
  EXPECT_EQ(read(launch->channel.theirs.get(), &byte, 1), 1);
  EXPECT_EQ(byte, 'h');
}

TEST(WorkerLaunchTest, OneFileForBothOutputsIsOneOpenFile) {
  testing::TempDir dir;
  WorkerConfig worker = Worker(dir);
  worker.stderr_filename = worker.stdout_filename;
  absl::StatusOr<PreparedLaunch> launch = PrepareLaunch(worker, 0, UniqueFd());
  ASSERT_TRUE(launch.ok()) << launch.status();
  EXPECT_EQ(launch->fds()[1], std::make_pair(launch->stdio.out.get(), 2));
}

TEST(WorkerLaunchTest, AnOutputThatCannotBeOpenedIsAnErrorNamingIt) {
  testing::TempDir dir;
  WorkerConfig worker = Worker(dir);
  worker.stdout_filename = dir.File("missing/w1.out");
  absl::StatusOr<PreparedLaunch> launch = PrepareLaunch(worker, 0, UniqueFd());
  ASSERT_FALSE(launch.ok());
  EXPECT_NE(launch.status().message().find("w1.out"), std::string::npos) << launch.status();
}

}  // namespace
}  // namespace appkit::controller
