// Hermetic integration tests of your own daemon: target
// @appkit//client:testing (testonly), namespace appkit::testing.
//
// TestDaemon runs the real guardian, executor and workers (from your test's
// runfiles, through //client:appkit) in a private directory, lets the test
// watch them over the control plane, stops them, and checks that nothing
// is left behind:
//
//   appkit::testing::TestDaemon daemon;
//   appkit::DaemonOptions options = daemon.Options("greeter:daemon_main");
//   ASSERT_TRUE(daemon.Start(options).ok());
//   auto workers = daemon.WaitForWorkers(2);        // both RUNNING
//   ASSERT_TRUE(workers.ok()) << workers.status();
//   ASSERT_TRUE(daemon.Stop().ok());
//   EXPECT_TRUE(daemon.CheckNothingLeft().ok());
//
// Contract:
// - dir(): a new directory /tmp/appkit-test-XXXXXX (mode 0700), short so
//   that every socket path in it fits the 108 bytes of a Unix socket
//   address ($TEST_TMPDIR under Bazel is too long). Removed, with
//   everything in it, by the destructor.
// - Options(entry): DaemonOptions with the pid file, control socket,
//   stdout, stderr and log file in dir() (daemon.pid, daemon.pid.sock,
//   daemon-out.txt, daemon-err.txt, daemon.log at INFO), a 5 s
//   stop_timeout, no restart. Change any of it before Start.
// - Start: StartDaemon; OK only for kLaunched, else an error with
//   StartDaemon's reason and the end of the daemon's stderr. One daemon
//   per TestDaemon.
// - WaitUntilRunning: until the guardian reports RUNNING (the executor has
//   loaded the entry and runs it). WaitForWorkers(n): until the daemon's
//   pool lists n workers, every one RUNNING; returns that list.
//   WaitForRestarts(i, r): until worker i has been restarted r times in
//   all and RUNNING again (a worker just killed still shows RUNNING until
//   its controller has seen it die: wait for this, not for WaitForWorkers).
// - Status(), Workers(): one GetStatus / ListWorkers call. Guardian(),
//   Controller(): stubs for any RPC of proto/guardian.proto (the daemon's
//   control socket) and proto/controller.proto (its pool's socket).
// - Stop: RequestQuit, then waits until the guardian has exited (it exits
//   after its executor, which waits for every worker).
// - CheckNothingLeft: OK when no process the fixture saw (guardian,
//   executors, workers) is alive, no other process has a file of dir()
//   open (that catches what your entry forked too, since it inherits the
//   daemon's stdout and stderr), and dir() holds no pid file and no
//   socket, within `grace` (the fork servers end just after the guardian);
//   otherwise an error that lists what is left.
// - Each wait has a deadline (`timeout`) and returns DeadlineExceeded
//   saying what it waited for and what it saw last; every error says what
//   to look at (the daemon's files in dir()).
// - The destructor stops a daemon still running (SIGTERM to the guardian,
//   then SIGKILL to every process left), so a failing test leaves nothing.
// Not thread-safe: use a TestDaemon from one thread.
#ifndef APPKIT_CLIENT_TESTING_H_
#define APPKIT_CLIENT_TESTING_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/appkit.h"
#include "proto/controller.grpc.pb.h"
#include "proto/guardian.grpc.pb.h"

namespace appkit::testing {

class TestDaemon {
 public:
  TestDaemon();
  ~TestDaemon();
  TestDaemon(const TestDaemon&) = delete;
  TestDaemon& operator=(const TestDaemon&) = delete;

  const std::string& dir() const { return dir_; }
  // dir() + "/" + name
  std::string Path(const std::string& name) const;

  DaemonOptions Options(const std::string& entry) const;

  absl::Status Start(const DaemonOptions& options);
  absl::Status WaitUntilRunning(absl::Duration timeout = absl::Seconds(10));
  absl::StatusOr<v1::ListWorkersResponse> WaitForWorkers(
      int count, absl::Duration timeout = absl::Seconds(10));
  absl::StatusOr<v1::ListWorkersResponse> WaitForRestarts(
      int index, int restarts, absl::Duration timeout = absl::Seconds(10));

  absl::StatusOr<v1::GuardianStatus> Status();
  absl::StatusOr<v1::ListWorkersResponse> Workers();
  std::unique_ptr<v1::Guardian::Stub> Guardian() const;
  std::unique_ptr<v1::Controller::Stub> Controller() const;

  absl::Status Stop(absl::Duration timeout = absl::Seconds(15));
  absl::Status CheckNothingLeft(absl::Duration grace = absl::Seconds(2));

  // The guardian's pid (0 before Start).
  pid_t guardian_pid() const { return guardian_; }

 private:
  void Saw(pid_t pid);
  std::string StderrTail() const;
  std::string control_socket() const;
  std::string controller_socket() const;

  std::string dir_;
  DaemonOptions options_;
  pid_t guardian_ = 0;
  std::map<pid_t, int> seen_;  // every process of the daemon seen, with a pidfd
};

}  // namespace appkit::testing

#endif  // APPKIT_CLIENT_TESTING_H_
