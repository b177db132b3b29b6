// guardian/executor_launcher: what every executor is asked to run, and the
// executor fork server's arguments. (The launches themselves run through
// whole daemons: client/start_daemon_test, fault_injection_test.)
#include "guardian/executor_launcher.h"

#include "common/time_format.h"
#include "gtest/gtest.h"

namespace appkit::guardian {
namespace {

v1::DaemonLaunch Daemon() {
  v1::DaemonLaunch launch;
  launch.set_pid_filename("/run/demo.pid");
  launch.set_guardian_socket("/run/demo.pid.sock");
  launch.set_controller_socket("/run/demo.pid.workers.sock");
  launch.set_daemon_entry("demo:main");
  launch.set_resolved_entry("/opt/demo/libdemo.so:main");
  (*launch.mutable_daemon_args()->mutable_fields())["k"].set_string_value("v");
  launch.mutable_logging_config()->set_level("DEBUG");
  *launch.mutable_restart_interval() = ToProtoDuration(absl::Seconds(1));
  launch.set_executor_path("/opt/appkit/executor");
  launch.set_worker_path("/opt/appkit/worker");
  launch.set_control_plane_path("/opt/appkit/libappkit_control_plane.so");
  launch.set_stdout_filename("/var/log/demo.out");
  launch.set_stderr_filename("/var/log/demo.err");
  launch.set_user_fd_limit(1024);
  return launch;
}

TEST(ExecutorLaunchTest, CarriesWhatTheExecutorNeedsFromTheDaemonLaunch) {
  const v1::ExecutorLaunch executor = ExecutorLaunchFor(Daemon(), 42);
  EXPECT_EQ(executor.daemon_entry(), "demo:main");
  EXPECT_EQ(executor.resolved_entry(), "/opt/demo/libdemo.so:main");
  EXPECT_EQ(executor.daemon_args().fields().at("k").string_value(), "v");
  EXPECT_EQ(executor.logging_config().level(), "DEBUG");
  EXPECT_EQ(executor.guardian_pid(), 42);
  EXPECT_EQ(executor.controller_socket(), "/run/demo.pid.workers.sock");
  EXPECT_EQ(executor.worker_path(), "/opt/appkit/worker");
  EXPECT_EQ(executor.control_plane_path(), "/opt/appkit/libappkit_control_plane.so");
  EXPECT_EQ(executor.stdout_filename(), "/var/log/demo.out");
  EXPECT_EQ(executor.stderr_filename(), "/var/log/demo.err");
  EXPECT_EQ(executor.user_fd_limit(), 1024u);
}

TEST(ExecutorLaunchTest, LeavesLoggingUnsetWhenTheDaemonHasNone) {
  v1::DaemonLaunch launch = Daemon();
  launch.clear_logging_config();
  EXPECT_FALSE(ExecutorLaunchFor(launch, 42).has_logging_config());
}

TEST(ExecutorLaunchTest, TheForkServerGetsTheGuardiansFilesToRemoveAfterASigkill) {
  EXPECT_EQ(ExecutorServerArgs(Daemon()),
            (std::vector<std::string>{"/run/demo.pid", "/run/demo.pid.sock",
                                      "/run/demo.pid.workers.sock"}));
}

}  // namespace
}  // namespace appkit::guardian
