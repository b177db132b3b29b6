#include "common/control_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "proto/guardian.grpc.pb.h"
#include "testing/grpc_probe.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::TempDir;

class FakeGuardian final : public v1::Guardian::Service {
  grpc::Status GetStatus(grpc::ServerContext*, const v1::GetStatusRequest*,
                         v1::GuardianStatus* status) override {
    status->set_guardian_pid(getpid());
    status->set_state(v1::GUARDIAN_STATE_RUNNING);
    return grpc::Status::OK;
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
