// health_listen (SPEC §10): a real daemon serves grpc.health.v1 on a TCP
// port, with the control socket's answers, and nothing else there: the
// Guardian service on that port is UNIMPLEMENTED. A port it cannot have
// is an error naming it, with nothing left behind.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "client/appkit.h"
#include "common/base/unique_fd.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "proto/guardian.grpc.pb.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::WaitFor;
using ::appkit::testing::WaitForExit;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

std::string Module() { return testing::RunfilePath("testing/libtest_module.so"); }

// A TCP socket bound to a free port of 127.0.0.1 (listening when asked).
UniqueFd BoundSocket(int* port, bool listening) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(addr);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
    return UniqueFd();
  }
  if (listening) listen(fd.get(), 1);
  *port = ntohs(addr.sin_port);
  return fd;
}

std::shared_ptr<grpc::Channel> Tcp(int port) {
  return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return context;
}

// "SERVING", "NOT_SERVING", or the gRPC error code's number.
std::string Check(int port, const std::string& service) {
  auto stub = ::grpc::health::v1::Health::NewStub(Tcp(port));
  HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  grpc::Status status = stub->Check(Context().get(), request, &response);
  if (!status.ok()) return absl::StrCat("code ", status.error_code());
  return HealthCheckResponse::ServingStatus_Name(response.status());
}

class HealthListenTest : public ::testing::Test {
 protected:
  DaemonOptions Options(int port) {
    DaemonOptions options;
    options.pid_filename = dir_.File("h.pid");
    options.daemon_entry = Module() + ":run_until_quit";
    options.health_listen = absl::StrCat("127.0.0.1:", port);
    options.stderr_filename = dir_.File("err.txt");
    return options;
  }
  testing::TempDir dir_;
  testing::ProcessReaper reaper_;
};

TEST_F(HealthListenTest, ServesHealthOnlyOverTcp) {
  int port = 0;
  ASSERT_TRUE(BoundSocket(&port, false));  // closed again: free for the daemon
  DaemonOptions options = Options(port);
  options.ready_timeout = absl::Seconds(30);  // run_until_quit never says ready
  DaemonStartResult result = StartDaemon(options);
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
  reaper_.Track(*result.pid);

  EXPECT_TRUE(WaitFor([&] { return Check(port, "liveness") == "SERVING"; }))
      << Check(port, "liveness");
  // The entry runs but is not ready: kubelet's readiness probe fails.
  EXPECT_EQ(Check(port, ""), "NOT_SERVING");
  // The control services are not there, not even by name.
  EXPECT_EQ(Check(port, "appkit.v1.Guardian"), absl::StrCat("code ", grpc::StatusCode::NOT_FOUND));
  auto guardian = v1::Guardian::NewStub(Tcp(port));
  v1::GuardianStatus status;
  grpc::Status rpc = guardian->GetStatus(Context().get(), {}, &status);
  EXPECT_EQ(rpc.error_code(), grpc::StatusCode::UNIMPLEMENTED) << rpc.error_message();
  v1::GuardianRequestQuitResponse quit;
  rpc = guardian->RequestQuit(Context().get(), {}, &quit);
  EXPECT_EQ(rpc.error_code(), grpc::StatusCode::UNIMPLEMENTED) << rpc.error_message();
  EXPECT_TRUE(testing::ProcessAlive(*result.pid));

  kill(*result.pid, SIGTERM);
  ASSERT_TRUE(WaitForExit(*result.pid, absl::Seconds(20)));
  // The port is closed with the daemon.
  EXPECT_NE(Check(port, "liveness"), "SERVING");
}

TEST_F(HealthListenTest, ReadyEntryIsServingOnTcp) {
  int port = 0;
  ASSERT_TRUE(BoundSocket(&port, false));
  DaemonStartResult result = StartDaemon(Options(port));  // ready when it runs
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
  reaper_.Track(*result.pid);
  EXPECT_TRUE(WaitFor([&] { return Check(port, "") == "SERVING"; })) << Check(port, "");
  kill(*result.pid, SIGTERM);
  EXPECT_TRUE(WaitForExit(*result.pid, absl::Seconds(20)));
}

TEST_F(HealthListenTest, APortInUseIsAnErrorNamingItAndLeavesNothing) {
  int port = 0;
  UniqueFd taken = BoundSocket(&port, true);
  ASSERT_TRUE(taken);
  DaemonStartResult result = StartDaemon(Options(port));
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunchFailed);
  EXPECT_NE(result.error.find(absl::StrCat("health_listen 127.0.0.1:", port)), std::string::npos)
      << result.error;
  EXPECT_FALSE(testing::FileExists(dir_.File("h.pid")));
  EXPECT_FALSE(testing::FileExists(dir_.File("h.pid.sock")));
}

}  // namespace
}  // namespace appkit
