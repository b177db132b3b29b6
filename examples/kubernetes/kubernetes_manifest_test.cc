// examples/kubernetes/demo.yaml parses, and its probes point at what the
// daemon serves: the container runs `appkitctl ... run demo` (PID 1) with
// the ConfigMap's daemons.yaml mounted where --config says; both gRPC
// probes ask the port of that file's health_listen, liveness for service
// "liveness" and readiness for "". Then the container's command itself
// runs here (paths and port moved to a temp dir and a free port) and the
// probes' own questions get SERVING over TCP; SIGTERM (what kubelet sends
// PID 1) ends it with status 0.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"
#include "yaml-cpp/yaml.h"

namespace appkit {
namespace {

using ::appkit::testing::ReadFileOrEmpty;
using ::appkit::testing::RunfilePath;
using ::appkit::testing::WaitFor;
using ::appkit::testing::WaitForExit;

struct Manifest {
  YAML::Node config_map;
  YAML::Node deployment;
};

Manifest Load() {
  Manifest manifest;
  for (const YAML::Node& doc :
       YAML::LoadAllFromFile(RunfilePath("examples/kubernetes/demo.yaml"))) {
    const std::string kind = doc["kind"].as<std::string>();
    if (kind == "ConfigMap") manifest.config_map = doc;
    if (kind == "Deployment") manifest.deployment = doc;
  }
  return manifest;
}

YAML::Node Container(const Manifest& m) {
  return m.deployment["spec"]["template"]["spec"]["containers"][0];
}

std::vector<std::string> Command(const Manifest& m) {
  return Container(m)["command"].as<std::vector<std::string>>();
}

// The value after `flag` in `command` ("" when absent).
std::string FlagValue(const std::vector<std::string>& command, const std::string& flag) {
  for (size_t i = 0; i + 1 < command.size(); ++i) {
    if (command[i] == flag) return command[i + 1];
  }
  return "";
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(addr);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
  close(fd);
  return ntohs(addr.sin_port);
}

std::string Probe(int port, const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return absl::StrCat("code ", status.error_code());
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
}

TEST(KubernetesManifestTest, ProbesAskWhatTheDaemonServes) {
  Manifest m = Load();
  ASSERT_TRUE(m.config_map && m.deployment);
  const std::vector<std::string> command = Command(m);
  ASSERT_GE(command.size(), 3u);
  EXPECT_EQ(std::filesystem::path(command[0]).filename(), "appkitctl");
  EXPECT_EQ(command[command.size() - 2], "run");
  const std::string daemon = command.back();

  // --config is the ConfigMap's daemons.yaml, mounted.
  const YAML::Node pod = m.deployment["spec"]["template"]["spec"];
  const std::string config = FlagValue(command, "--config");
  const YAML::Node mount = Container(m)["volumeMounts"][0];
  EXPECT_EQ(config, mount["mountPath"].as<std::string>() + "/daemons.yaml");
  EXPECT_EQ(pod["volumes"][0]["name"].as<std::string>(), mount["name"].as<std::string>());
  EXPECT_EQ(pod["volumes"][0]["configMap"]["name"].as<std::string>(),
            m.config_map["metadata"]["name"].as<std::string>());

  // The daemon's health_listen port is the probes' port.
  const YAML::Node daemons = YAML::Load(m.config_map["data"]["daemons.yaml"].as<std::string>());
  ASSERT_TRUE(daemons[daemon]) << "the ConfigMap defines " << daemon;
  const std::string listen = daemons[daemon]["health_listen"].as<std::string>();
  const int port = std::stoi(listen.substr(listen.rfind(':') + 1));
  const YAML::Node liveness = Container(m)["livenessProbe"]["grpc"];
  const YAML::Node readiness = Container(m)["readinessProbe"]["grpc"];
  EXPECT_EQ(liveness["port"].as<int>(), port);
  EXPECT_EQ(readiness["port"].as<int>(), port);
  EXPECT_EQ(liveness["service"].as<std::string>(), "liveness");
  EXPECT_EQ(readiness["service"].as<std::string>(), "");
  EXPECT_EQ(Container(m)["ports"][0]["containerPort"].as<int>(), port);
}

TEST(KubernetesManifestTest, TheContainersCommandAnswersItsProbes) {
  Manifest m = Load();
  ASSERT_TRUE(m.config_map && m.deployment);
  testing::TempDir dir;
  const int port = FreePort();
  const std::string daemons_yaml = m.config_map["data"]["daemons.yaml"].as<std::string>();
  const std::string listen =
      YAML::Load(daemons_yaml)["demo"]["health_listen"].as<std::string>();
  const std::string config = dir.File("daemons.yaml");
  std::ofstream(config) << absl::StrReplaceAll(
      daemons_yaml, {{listen, absl::StrCat("127.0.0.1:", port)}, {"/tmp", dir.path()}});

  std::vector<std::string> argv = Command(m);
  argv[0] = RunfilePath("client/appkitctl");
  for (std::string& arg : argv) {
    if (arg == FlagValue(Command(m), "--config")) arg = config;
    if (arg == FlagValue(Command(m), "--state-dir")) arg = dir.File("state");
  }
  std::filesystem::create_directory(dir.File("state"));
  const std::string module_dir =
      std::filesystem::path(RunfilePath("examples/quickstart/libdemo.so")).parent_path();
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (std::string& arg : argv) args.push_back(arg.data());
    args.push_back(nullptr);
    setenv("APPKIT_MODULE_PATH", module_dir.c_str(), 1);
    execv(args[0], args.data());
    _exit(127);
  }
  testing::ProcessReaper reaper;
  reaper.Track(pid);
  const std::string live = Container(m)["livenessProbe"]["grpc"]["service"].as<std::string>();
  const std::string ready = Container(m)["readinessProbe"]["grpc"]["service"].as<std::string>();
  EXPECT_TRUE(WaitFor([&] { return Probe(port, live) == "SERVING"; }, absl::Seconds(20)))
      << Probe(port, live) << ReadFileOrEmpty(dir.File("state/demo/demo-err.txt"));
  EXPECT_TRUE(WaitFor([&] { return Probe(port, ready) == "SERVING"; }, absl::Seconds(20)))
      << Probe(port, ready);
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  ASSERT_TRUE(WaitForExit(pid, absl::Seconds(30)));
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace appkit
