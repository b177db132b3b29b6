// ./bazelw run //examples/quickstart
//
// A one-minute tour of appkit: start a daemon whose entry runs a pool of
// three workers (one crashes now and then), watch a live status table,
// kill a worker and see it come back, stop the daemon cleanly, and see
// where everything was written. Safe to run twice; leaves nothing running.
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/appkit.h"
#include "grpcpp/create_channel.h"
#include "proto/controller.grpc.pb.h"
#include "proto/guardian.grpc.pb.h"

namespace {

// Where the tour's files go ($APPKIT_QUICKSTART_DIR overrides, for tests).
const std::string kStateDir = [] {
  const char* dir = getenv("APPKIT_QUICKSTART_DIR");
  return std::string(dir && *dir ? dir : "/tmp/appkit-quickstart");
}();

std::string Short(const std::string& state, const std::string& prefix) {
  return state.rfind(prefix, 0) == 0 ? state.substr(prefix.size()) : state;
}

template <typename Stub>
std::unique_ptr<Stub> Connect(const std::string& socket) {
  return std::make_unique<Stub>(
      grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));
}

void Deadline(grpc::ClientContext& context) {
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

appkit::v1::GuardianStatus Status(const std::string& socket) {
  grpc::ClientContext context;
  Deadline(context);
  appkit::v1::GuardianStatus status;
  (void)Connect<appkit::v1::Guardian::Stub>(socket)->GetStatus(&context, {}, &status);
  return status;
}

appkit::v1::ListWorkersResponse Workers(const std::string& socket) {
  grpc::ClientContext context;
  Deadline(context);
  appkit::v1::ListWorkersResponse workers;
  (void)Connect<appkit::v1::Controller::Stub>(socket)->ListWorkers(&context, {}, &workers);
  return workers;
}

void ShowTable(const appkit::v1::GuardianStatus& guardian,
               const appkit::v1::ListWorkersResponse& workers) {
  printf("   guardian %lld %s, executor %lld (controller of %d workers)\n",
         static_cast<long long>(guardian.guardian_pid()),
         Short(appkit::v1::GuardianState_Name(guardian.state()), "GUARDIAN_STATE_").c_str(),
         static_cast<long long>(guardian.executor().pid()), workers.workers_size());
  printf("     %-10s %-20s %-8s %-9s %s\n", "worker", "state", "pid", "restarts", "last exit");
  for (const auto& worker : workers.workers()) {
    std::string last = worker.history_size() > 0
                           ? worker.history(worker.history_size() - 1).description()
                           : "-";
    printf("     %-10s %-20s %-8s %-9d %s\n", worker.name().c_str(),
           Short(appkit::v1::WorkerState_Name(worker.state()), "WORKER_STATE_").c_str(),
           worker.running() ? std::to_string(worker.current().pid()).c_str() : "-",
           worker.restart_count(), last.c_str());
  }
}

pid_t PidOf(const appkit::v1::ListWorkersResponse& workers, const std::string& name) {
  for (const auto& worker : workers.workers()) {
    if (worker.name() == name && worker.running()) return static_cast<pid_t>(worker.current().pid());
  }
  return 0;
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
  const std::string workers_socket = kStateDir + "/demo.pid.workers.sock";

  auto logging = appkit::LoggingConfigFromJson(
      R"({"level": "INFO", "handlers": [{"file": {"filename": ")" + kStateDir +
      R"(/demo.log"}}]})");
  appkit::DaemonOptions options;
  options.pid_filename = pid_file;
  options.daemon_entry = "demo:daemon_main";  // libdemo.so, found next to this program
  options.daemon_args.Set("state_dir", kStateDir);
  options.stdout_filename = kStateDir + "/demo-out.txt";
  options.stderr_filename = kStateDir + "/demo-err.txt";
  options.logging_config = *logging;
  options.restart_interval = absl::Seconds(1);

  printf("1. StartDaemon(demo:daemon_main): a guardian, an executor running the entry,\n"
         "   and the entry's StartWorkers pool of three workers\n");
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

  printf("2. Live status over the control sockets (the flaky worker crashes and comes back)\n");
  appkit::v1::ListWorkersResponse workers;
  for (int i = 0; i < 4; ++i) {
    absl::SleepFor(absl::Seconds(1));  // the display's refresh rate
    workers = Workers(workers_socket);
    printf("   --- t=%ds\n", i + 1);
    ShowTable(Status(socket), workers);
  }

  pid_t victim = PidOf(workers, "greeter-1");
  printf("\n3. kill -9 %d (worker greeter-1): the controller sees it at once and restarts it\n",
         victim);
  kill(victim, SIGKILL);
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  pid_t replacement = 0;
  while (absl::Now() < deadline && (replacement == 0 || replacement == victim)) {
    absl::SleepFor(absl::Milliseconds(50));
    workers = Workers(workers_socket);
    replacement = PidOf(workers, "greeter-1");
  }
  ShowTable(Status(socket), workers);
  printf("   greeter-1: pid %d -> %d\n", victim, replacement);

  printf("\n4. RequestQuit (same as: kill -TERM %d): every worker is asked to quit, then the\n"
         "   executor and the guardian exit\n", guardian);
  {
    grpc::ClientContext context;
    Deadline(context);
    appkit::v1::GuardianRequestQuitResponse response;
    (void)Connect<appkit::v1::Guardian::Stub>(socket)->RequestQuit(&context, {}, &response);
  }
  bool gone = WaitExit(guardian, 15000);
  struct stat st;
  printf("   guardian %s; pid file %s\n\n", gone ? "exited" : "STILL RUNNING",
         stat(pid_file.c_str(), &st) == 0 ? "still there" : "removed");

  printf("5. What was written (in %s):\n", kStateDir.c_str());
  printf("   demo.log                   guardian, executor and controller lifecycle\n");
  printf("   greeter-1.log, flaky.log   each worker's own log\n");
  printf("   debug.json                 the worker pool's debug file (pyappkit format)\n");
  printf("   demo-err.txt, *-err.txt    stderr of the daemon and of each worker\n\n");
  printf("   Try next (the daemon again, driven by appkitctl and a daemons.yaml):\n");
  printf("     ./bazelw build //client:appkitctl\n");
  printf("     APPKIT_MODULE_PATH=$PWD/bazel-bin/examples/quickstart \\\n"
         "       bazel-bin/client/appkitctl --config examples/quickstart/daemons.yaml start demo\n");
  printf("     bazel-bin/client/appkitctl --config examples/quickstart/daemons.yaml list\n");
  printf("     bazel-bin/client/appkitctl --config examples/quickstart/daemons.yaml workers demo\n");
  printf("     bazel-bin/client/appkitctl --config examples/quickstart/daemons.yaml stop demo\n");
  return gone ? 0 : 1;
}
