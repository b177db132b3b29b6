#include "common/control/control_server.h"

#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/synchronization/notification.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "proto/guardian.grpc.pb.h"
#include "testing/grpc_probe.h"
#include "testing/process_helpers.h"
#include "testing/raw_http2.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::ClosedByServer;
using ::appkit::testing::ConnectUnix;
using ::appkit::testing::RawHttp2;
using ::appkit::testing::TempDir;

// A callback service, as every service of a control server is.
class FakeGuardian final : public v1::Guardian::CallbackService {
  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* context,
                                      const v1::GetStatusRequest*,
                                      v1::GuardianStatus* status) override {
    status->set_guardian_pid(getpid());
    status->set_state(v1::GUARDIAN_STATE_RUNNING);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// Drives AcceptPending from a thread, as an owner's event loop would.
class AcceptThread {
 public:
  explicit AcceptThread(ControlServer* server)
      : server_(server), stop_fd_(eventfd(0, EFD_CLOEXEC)), thread_([this] { Run(); }) {}
  ~AcceptThread() {
    uint64_t one = 1;
    (void)!write(stop_fd_, &one, sizeof(one));
    thread_.join();
    close(stop_fd_);
  }

 private:
  void Run() {
    for (;;) {
      pollfd fds[2] = {{server_->fd(), POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) continue;
      if (fds[1].revents) return;
      server_->AcceptPending();
    }
  }
  ControlServer* server_;
  int stop_fd_;
  std::thread thread_;
};

int ThreadCount() {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    (void)entry;
    ++n;
  }
  return n;
}

TEST(ControlServerTest, ServesHealthReflectionAndServicesOnA0600Socket) {
  TempDir dir;
  const std::string path = dir.File("ctl.sock");
  FakeGuardian guardian;
  int threads_before = ThreadCount();
  auto server = ControlServer::Listen(path, {{v1::Guardian::service_full_name(), &guardian}});
  ASSERT_TRUE(server.ok()) << server.status();

  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600);
  // gRPC is not started before the first client connects.
  EXPECT_EQ(ThreadCount(), threads_before);

  AcceptThread acceptor(server->get());
  EXPECT_EQ(testing::HealthCheck(path).value_or("error"), "SERVING");
  EXPECT_EQ(testing::HealthCheck(path, "appkit.v1.Guardian").value_or("error"), "SERVING");
  auto unknown = testing::HealthCheck(path, "no.such.Service");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);

  auto services = testing::ReflectionListServices(path);
  ASSERT_TRUE(services.ok()) << services.status();
  auto has = [&](const std::string& name) {
    return std::find(services->begin(), services->end(), name) != services->end();
  };
  EXPECT_TRUE(has("appkit.v1.Guardian"));
  EXPECT_TRUE(has("grpc.health.v1.Health"));
  EXPECT_TRUE(has("grpc.reflection.v1alpha.ServerReflection"));
  EXPECT_EQ(testing::ReflectionFileContainingSymbol(path, "appkit.v1.Guardian").value_or(""),
            "proto/guardian.proto");

  auto stub = v1::Guardian::NewStub(
      grpc::CreateChannel("unix:" + path, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::GuardianStatus status;
  ASSERT_TRUE(stub->GetStatus(&context, {}, &status).ok());
  EXPECT_EQ(status.guardian_pid(), getpid());
  EXPECT_EQ((*server)->refused_peers(), 0);
}

TEST(ControlServerTest, RemovesItsSocketWhenDestroyed) {
  TempDir dir;
  const std::string path = dir.File("ctl.sock");
  FakeGuardian guardian;
  auto server = ControlServer::Listen(path, {{v1::Guardian::service_full_name(), &guardian}});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE(testing::FileExists(path));
  server->reset();
  EXPECT_FALSE(testing::FileExists(path));
}

TEST(ControlServerTest, ReplacesAStaleSocket) {
  TempDir dir;
  const std::string path = dir.File("ctl.sock");
  FakeGuardian guardian;
  {
    auto first = ControlServer::Listen(path, {{v1::Guardian::service_full_name(), &guardian}});
    ASSERT_TRUE(first.ok());
    // Simulate a crash, which leaves the socket file behind: keep a hard
    // link across the clean shutdown and put it back afterwards.
    ASSERT_EQ(link(path.c_str(), (path + ".keep").c_str()), 0);
  }
  ASSERT_EQ(rename((path + ".keep").c_str(), path.c_str()), 0);
  auto second = ControlServer::Listen(path, {{v1::Guardian::service_full_name(), &guardian}});
  ASSERT_TRUE(second.ok()) << second.status();
  AcceptThread acceptor(second->get());
  EXPECT_EQ(testing::HealthCheck(path).value_or("error"), "SERVING");
}

TEST(ControlServerTest, IsBorn0600WhateverTheUmask) {
  TempDir dir;
  const std::string path = dir.File("ctl.sock");
  FakeGuardian guardian;
  const mode_t saved = umask(0);
  auto server = ControlServer::Listen(path, {{v1::Guardian::service_full_name(), &guardian}});
  umask(saved);
  ASSERT_TRUE(server.ok()) << server.status();
  struct stat st;
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600);
}

// Issue 11 item 5. The socket's directory is world-writable without the
// sticky bit: another user can rename a symlink over the socket path at
// any moment. Listening (and stopping) must never change the mode of what
// the symlink points to (a chmod by path after bind() did: 10 times in 40
// rounds in the issue, at least once in 400 here). The attacker, as
// nobody, swaps a symlink in as soon as a socket appears, for 400
// Listen/teardown rounds.
TEST(ControlServerTest, NoChmodByPathWhileAnotherUserSwapsTheSocketForASymlink) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to act as nobody";
  TempDir dir;
  chmod(dir.path().c_str(), 0755);
  const std::string pub = dir.File("pub");
  ASSERT_EQ(mkdir(pub.c_str(), 0777), 0);
  ASSERT_EQ(chmod(pub.c_str(), 0777), 0);  // no sticky bit
  const std::string victim = dir.File("victim");
  { std::ofstream(victim) << "precious"; }
  ASSERT_EQ(chmod(victim.c_str(), 0644), 0);
  const std::string path = pub + "/ctl.sock";

  pid_t attacker = fork();
  if (attacker == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(65534, 65534, 65534) != 0 ||
        setresuid(65534, 65534, 65534) != 0) {
      _exit(1);
    }
    const std::string link = pub + "/evil";
    for (;;) {
      struct stat st;
      if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
        unlink(link.c_str());
        if (symlink(victim.c_str(), link.c_str()) == 0) rename(link.c_str(), path.c_str());
      }
    }
  }
  ASSERT_GT(attacker, 0);
  FakeGuardian guardian;
  int listened = 0;
  const int kRounds = 400;  // 40 were not enough here for chmod by path to lose
  for (int round = 0; round < kRounds; ++round) {
    unlink(path.c_str());  // whatever the last round left there
    auto server = ControlServer::Listen(path, {{v1::Guardian::service_full_name(), &guardian}});
    listened += server.ok();
    server = absl::StatusOr<std::unique_ptr<ControlServer>>();  // teardown
  }
  kill(attacker, SIGKILL);
  waitpid(attacker, nullptr, 0);
  struct stat st;
  ASSERT_EQ(stat(victim.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644) << "the victim's mode changed";
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(testing::ReadFileOrEmpty(victim), "precious");
  EXPECT_GT(listened, 0);
}

// Issue 11 item 7: another process serves the socket.
TEST(ControlServerTest, NeverTakesOverALiveSocketAndNamesWhoServesIt) {
  TempDir dir;
  const std::string path = dir.File("ctl.sock");
  FakeGuardian guardian;
  auto first = ControlServer::Listen(path, {{v1::Guardian::service_full_name(), &guardian}});
  ASSERT_TRUE(first.ok()) << first.status();
  AcceptThread acceptor(first->get());
  auto second = ControlServer::Listen(path, {{v1::Guardian::service_full_name(), &guardian}});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(second.status().message().find(path), std::string::npos) << second.status();
  EXPECT_NE(second.status().message().find("process " + std::to_string(getpid())),
            std::string::npos)
      << second.status();
  // The first one still serves it.
  EXPECT_EQ(testing::HealthCheck(path).value_or("error"), "SERVING");
}

// Another user's live socket cannot even be probed (mode 0600): an error
// naming it, and it is left alone.
TEST(ControlServerTest, ASocketThatCannotBeProbedIsAnErrorAndLeftAlone) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to act as nobody";
  TempDir dir;
  chmod(dir.path().c_str(), 0755);
  const std::string shared = dir.File("shared");
  ASSERT_EQ(mkdir(shared.c_str(), 01777), 0);
  ASSERT_EQ(chmod(shared.c_str(), 01777), 0);
  const std::string path = shared + "/ctl.sock";
  FakeGuardian guardian;
  auto root = ControlServer::Listen(path, {{v1::Guardian::service_full_name(), &guardian}});
  ASSERT_TRUE(root.ok()) << root.status();
  int report[2];
  ASSERT_EQ(pipe(report), 0);
  pid_t child = fork();
  if (child == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(65534, 65534, 65534) != 0 ||
        setresuid(65534, 65534, 65534) != 0) {
      _exit(1);
    }
    auto mine = ControlServer::Listen(path, {{v1::Guardian::service_full_name(), &guardian}});
    const std::string message = mine.ok() ? "listened" : std::string(mine.status().message());
    (void)!write(report[1], message.data(), message.size());
    _exit(0);
  }
  close(report[1]);
  char buf[512] = {};
  (void)!read(report[0], buf, sizeof(buf) - 1);
  close(report[0]);
  waitpid(child, nullptr, 0);
  const std::string message = buf;
  EXPECT_NE(message.find("cannot tell whether control socket " + path + " is in use"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("Permission denied"), std::string::npos) << message;
  AcceptThread acceptor(root->get());
  EXPECT_EQ(testing::HealthCheck(path).value_or("error"), "SERVING");
}

TEST(ControlServerTest, RefusesASymlinkOrAFifoAtThePathWithoutFollowingIt) {
  TempDir dir;
  const std::string path = dir.File("ctl.sock");
  const std::string target = dir.File("target");
  { std::ofstream(target) << "precious"; }
  chmod(target.c_str(), 0644);
  FakeGuardian guardian;
  for (const std::string& kind :
       {"symlink to a file", "symlink to a directory", "dangling symlink", "fifo"}) {
    unlink(path.c_str());
    if (kind == "symlink to a file") ASSERT_EQ(symlink(target.c_str(), path.c_str()), 0);
    if (kind == "symlink to a directory") ASSERT_EQ(symlink(dir.path().c_str(), path.c_str()), 0);
    if (kind == "dangling symlink") ASSERT_EQ(symlink(dir.File("none").c_str(), path.c_str()), 0);
    if (kind == "fifo") ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
    auto server = ControlServer::Listen(path, {{v1::Guardian::service_full_name(), &guardian}});
    ASSERT_FALSE(server.ok()) << kind;
    EXPECT_NE(server.status().message().find(path), std::string::npos) << server.status();
    EXPECT_NE(server.status().message().find("not a socket"), std::string::npos) << kind;
    struct stat st;
    ASSERT_EQ(lstat(path.c_str(), &st), 0) << kind << " was removed";
  }
  struct stat st;
  ASSERT_EQ(stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644);
  EXPECT_EQ(testing::ReadFileOrEmpty(target), "precious");
  EXPECT_FALSE(testing::FileExists(dir.File("none")));
}

// Issue 11 item 9: connections beyond the cap are closed at once.
TEST(ControlServerTest, ClosesConnectionsOverTheCapAndTakesNewOnesOnceOthersClose) {
  TempDir dir;
  const std::string path = dir.File("ctl.sock");
  FakeGuardian guardian;
  ControlServer::Limits limits;
  limits.max_connections = 2;
  auto server =
      ControlServer::Listen(path, {{v1::Guardian::service_full_name(), &guardian}}, limits);
  ASSERT_TRUE(server.ok()) << server.status();
  AcceptThread acceptor(server->get());
  int a = ConnectUnix(path), b = ConnectUnix(path), c = ConnectUnix(path);
  ASSERT_GE(c, 0);
  EXPECT_TRUE(ClosedByServer(c));
  EXPECT_FALSE(ClosedByServer(a, absl::Milliseconds(100)));
  EXPECT_FALSE(ClosedByServer(b, absl::Milliseconds(100)));
  EXPECT_EQ((*server)->refused_over_cap(), 1);
  close(c);
  close(a);  // gRPC closes its end: room for one more
  EXPECT_TRUE(testing::WaitFor(
      [&] { return testing::HealthCheck(path, "", absl::Seconds(1)).value_or("") == "SERVING"; }));
  close(b);
}

// Issue 11 item 9: a client that ignores the stream limit (it never
// acknowledges the server's settings) has its connection cut.
TEST(ControlServerTest, CutsAConnectionThatHoldsTooManyCalls) {
  TempDir dir;
  const std::string path = dir.File("ctl.sock");
  FakeGuardian guardian;
  ControlServer::Limits limits;
  limits.cut_connection_at_calls = 4;
  auto server =
      ControlServer::Listen(path, {{v1::Guardian::service_full_name(), &guardian}}, limits);
  ASSERT_TRUE(server.ok()) << server.status();
  AcceptThread acceptor(server->get());
  {
    RawHttp2 polite(path);  // at the limit: kept
    for (uint32_t id = 1; id <= 7; id += 2) polite.Call(id, "/grpc.health.v1.Health/Watch");
    EXPECT_FALSE(ClosedByServer(polite.fd(), absl::Milliseconds(300)));
  }
  RawHttp2 flood(path);
  for (uint32_t id = 1; id < 200; id += 2) flood.Call(id, "/grpc.health.v1.Health/Watch");
  EXPECT_TRUE(ClosedByServer(flood.fd()));
  EXPECT_EQ((*server)->cut_connections(), 1);
  EXPECT_EQ(testing::HealthCheck(path).value_or("error"), "SERVING");
}

// Issue 11 item 9: a request beyond the size limit is refused.
TEST(ControlServerTest, RefusesARequestOverTheSizeLimit) {
  TempDir dir;
  const std::string path = dir.File("ctl.sock");
  FakeGuardian guardian;
  auto server = ControlServer::Listen(path, {{v1::Guardian::service_full_name(), &guardian}});
  ASSERT_TRUE(server.ok()) << server.status();
  AcceptThread acceptor(server->get());
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel("unix:" + path, grpc::InsecureChannelCredentials()));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  request.set_service(std::string(17 * 1024, 'x'));
  grpc::ClientContext big;
  EXPECT_EQ(stub->Check(&big, request, &response).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  request.set_service(std::string(4 * 1024, 'x'));  // echoed in the error: < 8 KiB
  grpc::ClientContext fits;
  EXPECT_EQ(stub->Check(&fits, request, &response).error_code(), grpc::StatusCode::NOT_FOUND);
}

// Issue 11 item 15: whatever gRPC does at teardown, Stop returns within
// its limit, having removed the socket. Here a handler never finishes its
// call, so gRPC's shutdown waits forever. In a process of its own (the
// gRPC left behind must not outlive the test's other servers).
class NeverFinishes final : public v1::Guardian::CallbackService {
 public:
  absl::Notification reached;

 private:
  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* context,
                                      const v1::GetStatusRequest*, v1::GuardianStatus*) override {
    reached.Notify();
    return context->DefaultReactor();  // and no Finish, ever
  }
};

TEST(ControlServerDeathTest, StopIsBoundedEvenWhenGrpcCannotStop) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  TempDir dir;
  const std::string path = dir.File("ctl.sock");
  EXPECT_EXIT(
      {
        auto* service = new NeverFinishes;  // gRPC may use it to the end
        auto server = ControlServer::Listen(path, {{v1::Guardian::service_full_name(), service}});
        if (!server.ok()) _exit(2);
        AcceptThread* acceptor = new AcceptThread(server->get());
        std::thread call([&] {
          auto stub = v1::Guardian::NewStub(
              grpc::CreateChannel("unix:" + path, grpc::InsecureChannelCredentials()));
          grpc::ClientContext context;
          v1::GuardianStatus response;
          (void)stub->GetStatus(&context, {}, &response);
        });
        call.detach();
        if (!service->reached.WaitForNotificationWithTimeout(absl::Seconds(10))) _exit(3);
        const absl::Time start = absl::Now();
        const bool clean = (*server)->Stop(absl::Milliseconds(50), absl::Milliseconds(500));
        const absl::Duration took = absl::Now() - start;
        if (clean) _exit(4);
        if (took > absl::Seconds(2)) _exit(5);
        if (testing::FileExists(path)) _exit(6);
        (void)acceptor;
        _exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(ControlServerTest, RefusesToReplaceSomethingThatIsNotASocket) {
  TempDir dir;
  const std::string path = dir.File("ctl.sock");
  { std::ofstream(path) << "precious"; }
  FakeGuardian guardian;
  auto server = ControlServer::Listen(path, {{v1::Guardian::service_full_name(), &guardian}});
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find(path), std::string::npos) << server.status();
  EXPECT_NE(server.status().message().find("not a socket"), std::string::npos);
  EXPECT_EQ(testing::ReadFileOrEmpty(path), "precious");
}

TEST(ControlServerTest, RejectsAPathTooLongForSockaddrUn) {
  const std::string path = "/tmp/" + std::string(120, 'x') + ".sock";
  FakeGuardian guardian;
  auto server = ControlServer::Listen(path, {{v1::Guardian::service_full_name(), &guardian}});
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(server.status().message().find(path), std::string::npos) << server.status();
  EXPECT_NE(server.status().message().find("107"), std::string::npos);
  EXPECT_FALSE(testing::FileExists(path));
}

TEST(ControlServerTest, MissingDirectoryIsAClearError) {
  const std::string path = "/tmp/appkit-no-such-dir-4711/ctl.sock";
  FakeGuardian guardian;
  auto server = ControlServer::Listen(path, {{v1::Guardian::service_full_name(), &guardian}});
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find(path), std::string::npos) << server.status();
}

}  // namespace
}  // namespace appkit
