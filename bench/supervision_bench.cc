// Supervision benchmark (SPEC §8): what Heartbeat() costs, how fast the
// watchdog finds a hung entry, and how fast NotifyReady() reaches a
// client watching health.
//
//   ./bazelw run //bench:supervision_bench
//
// Numbers, not asserts. Times are medians over the rounds.
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "bench/bench_util.h"
#include "client/appkit.h"
#include "common/process/heartbeat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"

using namespace appkit::bench;  // NOLINT: the helpers of bench_util.h

namespace {

double HeartbeatNs(int calls) {
  const int64_t t0 = NowNs();
  for (int i = 0; i < calls; ++i) appkit::Heartbeat();
  return static_cast<double>(NowNs() - t0) / calls;
}

}  // namespace

int main() {
  char templ[] = "/tmp/appkit-bench-XXXXXX";
  std::string dir = mkdtemp(templ);
  const std::string events = dir + "/events";
  char buf[64];

  // 1. Heartbeat(): not attached (nothing supervises), then attached to a
  // table as a watched entry is.
  const int calls = 10'000'000;
  const double unattached = HeartbeatNs(calls);
  auto table = appkit::HeartbeatTable::Create(1);
  if (!table.ok() || !appkit::internal::AttachHeartbeat((*table)->fd(), 0).ok()) {
    fprintf(stderr, "cannot attach a heartbeat table\n");
    return 1;
  }
  const double attached = HeartbeatNs(calls);

  // 2. Hung entry -> killed: each executor beats, marks "hang" and hangs;
  // the time from that mark to its exit (SIGABRT by the watchdog).
  const int rounds = 20;
  std::vector<double> hung_ns;
  {
    appkit::DaemonOptions options;
    options.pid_filename = dir + "/hang.pid";
    options.daemon_entry = Module() + ":beat_and_hang";
    options.daemon_args.Set("events", events);
    options.watchdog_timeout = absl::Milliseconds(200);
    options.restart_interval = absl::ZeroDuration();
    appkit::DaemonStartResult result = appkit::StartDaemon(options);
    if (result.status != appkit::DaemonRunStatus::kLaunched) {
      fprintf(stderr, "launch failed: %s\n", result.error.c_str());
      return 1;
    }
    for (int i = 0; i < rounds; ++i) {
      std::vector<Mark> marks;
      if (!WaitFor([&] { return (marks = ReadMarks(events)).size() > static_cast<size_t>(i); },
                   absl::Seconds(10))) {
        fprintf(stderr, "round %d: no executor hung\n", i);
        break;
      }
      const Mark& hang = marks[i];
      WaitExit(hang.pid, 10000);
      hung_ns.push_back(static_cast<double>(NowNs() - hang.ns));
    }
    kill(*result.pid, SIGTERM);
    WaitExit(*result.pid, 10000);
  }

  // 3. NotifyReady() -> a Health.Watch client sees SERVING.
  std::vector<double> ready_ns;
  for (int i = 0; i < 11; ++i) {
    std::filesystem::remove(events);
    const std::string gate = dir + "/gate";
    std::filesystem::remove(gate);
    appkit::DaemonOptions options;
    options.pid_filename = dir + "/ready.pid";
    options.daemon_entry = Module() + ":ready_on_gate";
    options.daemon_args.Set("events", events);
    options.daemon_args.Set("gate", gate);
    options.ready_timeout = absl::Seconds(30);
    appkit::DaemonStartResult result = appkit::StartDaemon(options);
    if (result.status != appkit::DaemonRunStatus::kLaunched) {
      fprintf(stderr, "launch failed: %s\n", result.error.c_str());
      return 1;
    }
    auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
        "unix:" + options.pid_filename + ".sock", grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    auto reader = stub->Watch(&context, grpc::health::v1::HealthCheckRequest());
    grpc::health::v1::HealthCheckResponse response;
    int64_t seen = 0;
    bool opened = false;
    while (reader->Read(&response)) {
      if (!opened) {
        opened = true;
        std::ofstream(gate) << "go\n";
      }
      if (response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
        seen = NowNs();
        break;
      }
    }
    context.TryCancel();
    for (const Mark& mark : ReadMarks(events)) {
      if (mark.event == "ready" && seen > 0) {
        ready_ns.push_back(static_cast<double>(seen - mark.ns));
      }
    }
    kill(*result.pid, SIGTERM);
    WaitExit(*result.pid, 10000);
  }

  printf("| %-44s | %14s | %-12s |\n", "metric", "value", "target");
  printf("|%s|%s|%s|\n", std::string(46, '-').c_str(), std::string(16, '-').c_str(),
         std::string(14, '-').c_str());
  snprintf(buf, sizeof(buf), "%.1f ns", attached);
  Row("Heartbeat() (watched entry)", buf, "< 50 ns");
  snprintf(buf, sizeof(buf), "%.1f ns", unattached);
  Row("Heartbeat() (no watchdog)", buf, "");
  snprintf(buf, sizeof(buf), "%s (n=%zu)", Ms(Median(hung_ns)).c_str(), hung_ns.size());
  Row("hung entry -> killed (watchdog 200 ms)", buf, "<= 220 ms");
  snprintf(buf, sizeof(buf), "%s (n=%zu)", Ms(Median(ready_ns)).c_str(), ready_ns.size());
  Row("NotifyReady() -> Health.Watch sees SERVING", buf, "<= 1 ms");
  std::filesystem::remove_all(dir);
  return 0;
}
