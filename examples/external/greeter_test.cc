// greeter_test.cc: an integration test of the greeter daemon, with the real
// guardian, executor and workers, on appkit's fixture (client/testing.h).
#include <signal.h>

#include "client/testing.h"
#include "gtest/gtest.h"

TEST(Greeter, RunsTwoWorkersRestartsOneAndLeavesNothing) {
  appkit::testing::TestDaemon daemon;             // a short private dir, removed after
  appkit::DaemonOptions options = daemon.Options("greeter:daemon_main");
  options.daemon_args.Set("dir", daemon.dir());   // the workers' files go there too
  ASSERT_TRUE(daemon.Start(options).ok());

  auto workers = daemon.WaitForWorkers(2);        // both RUNNING
  ASSERT_TRUE(workers.ok()) << workers.status();
  EXPECT_EQ(workers->workers(0).name(), "hello");

  kill(workers->workers(0).current().pid(), SIGKILL);  // a crash: back 100 ms later
  workers = daemon.WaitForRestarts(0, 1);         // restarted once, RUNNING again
  ASSERT_TRUE(workers.ok()) << workers.status();
  EXPECT_EQ(workers->workers(1).restart_count(), 0);

  ASSERT_TRUE(daemon.Stop().ok());
  absl::Status left = daemon.CheckNothingLeft();  // no process, pid file or socket
  EXPECT_TRUE(left.ok()) << left;
}
