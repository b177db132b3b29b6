// ./bazelw run //examples/quickstart
//
// A two-minute tour of appkit's daemon side: start a daemon, query it
// over its control socket, kill its executor and watch the guardian
// restart it, stop it, and see where everything was written.
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/time/clock.h"
#include "client/appkit.h"
#include "grpcpp/create_channel.h"
#include "proto/guardian.grpc.pb.h"

namespace {

const std::string kStateDir = "/tmp/appkit-quickstart";

appkit::v1::GuardianStatus Status(const std::string& socket) {
  auto stub = appkit::v1::Guardian::NewStub(
      grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  appkit::v1::GuardianStatus status;
  (void)stub->GetStatus(&context, {}, &status);
  return status;
}

void Show(const appkit::v1::GuardianStatus& status) {
  printf("  guardian %lld  state %-30s executor %lld (%s)  restarts %d\n",
         static_cast<long long>(status.guardian_pid()),
         appkit::v1::GuardianState_Name(status.state()).c_str(),
         static_cast<long long>(status.executor().pid()),
         status.executor().description().c_str(), status.restart_count());
}

bool WaitExit(pid_t pid, int timeout_ms) {
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return true;
  pollfd pfd = {fd, POLLIN, 0};
  bool gone = poll(&pfd, 1, timeout_ms) > 0;
  close(fd);
  return gone;
}

}  // namespace

int main() {
  mkdir(kStateDir.c_str(), 0755);
  const std::string pid_file = kStateDir + "/demo.pid";
  const std::string socket = pid_file + ".sock";

  auto logging = appkit::LoggingConfigFromJson(
      R"({"level": "INFO", "handlers": [{"file": {"filename": ")" + kStateDir +
      R"(/demo.log"}}]})");
  appkit::DaemonOptions options;
  options.pid_filename = pid_file;
  options.daemon_entry = "demo:daemon_main";  // libdemo.so, found next to this program
  options.daemon_args.Set("heartbeat_ms", 500);
  options.stdout_filename = kStateDir + "/demo-out.txt";
  options.stderr_filename = kStateDir + "/demo-err.txt";
  options.logging_config = *logging;
  options.restart_interval = absl::Milliseconds(500);

  printf("1. StartDaemon(demo:daemon_main)\n");
  appkit::DaemonStartResult result = appkit::StartDaemon(options);
  if (result.status == appkit::DaemonRunStatus::kAlreadyRunning) {
    printf("   a demo daemon from an earlier run is still up (pid %d): stopping it first\n",
           *result.pid);
    kill(*result.pid, SIGTERM);
    WaitExit(*result.pid, 15000);
    result = appkit::StartDaemon(options);
  }
  if (result.status != appkit::DaemonRunStatus::kLaunched) {
    fprintf(stderr, "   launch failed: %s\n", result.error.c_str());
    return 1;
  }
  pid_t guardian = *result.pid;
  printf("   launched: guardian pid %d (pid file %s)\n\n", guardian, pid_file.c_str());

  printf("2. GetStatus over %s, for two seconds\n", socket.c_str());
  for (int i = 0; i < 4; ++i) {
    absl::SleepFor(absl::Milliseconds(500));
    Show(Status(socket));
  }

  appkit::v1::GuardianStatus before = Status(socket);
  pid_t executor = static_cast<pid_t>(before.executor().pid());
  printf("\n3. kill -9 %d (the executor): the guardian restarts it after 500ms\n", executor);
  kill(executor, SIGKILL);
  for (int i = 0; i < 20; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    appkit::v1::GuardianStatus now = Status(socket);
    if (now.restart_count() > 0 && now.state() == appkit::v1::GUARDIAN_STATE_RUNNING) {
      Show(now);
      printf("   last run: pid %lld %s\n", static_cast<long long>(now.history(0).pid()),
             now.history(0).description().c_str());
      break;
    }
  }

  printf("\n4. RequestQuit (same as: kill -TERM %d)\n", guardian);
  {
    auto stub = appkit::v1::Guardian::NewStub(
        grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    appkit::v1::GuardianRequestQuitResponse response;
    (void)stub->RequestQuit(&context, {}, &response);
  }
  bool gone = WaitExit(guardian, 15000);
  struct stat st;
  printf("   guardian %s; pid file %s\n\n", gone ? "exited" : "STILL RUNNING",
         stat(pid_file.c_str(), &st) == 0 ? "still there" : "removed");

  printf("5. What was written:\n");
  printf("   log     %s/demo.log\n", kStateDir.c_str());
  printf("   stdout  %s/demo-out.txt\n   stderr  %s/demo-err.txt\n\n", kStateDir.c_str(),
         kStateDir.c_str());
  std::ifstream log(kStateDir + "/demo.log");
  std::string line;
  printf("   last lines of the log:\n");
  std::vector<std::string> lines;
  while (std::getline(log, line)) lines.push_back(line);
  for (size_t i = lines.size() > 8 ? lines.size() - 8 : 0; i < lines.size(); ++i) {
    printf("   %s\n", lines[i].c_str());
  }
  return gone ? 0 : 1;
}
