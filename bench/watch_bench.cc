// Watch benchmark (SPEC §9, issue 15): how soon a Guardian.Watch client
// has an event (the event's time, stamped by the guardian in the step that
// changed the state, to the client's Read returning it), with 1 and with
// 100 subscribers; and the executor's restart timing with none and with
// 100 subscribers attached (exit -> next start, from GetStatus history).
//
//   ./bazelw run //bench:watch_bench
//
// The executor crash-loops (mark_and_fail, restart_interval 20ms). Numbers,
// not asserts.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "bench/bench_util.h"
#include "client/appkit.h"
#include "common/base/time_format.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/support/channel_arguments.h"
#include "proto/guardian.grpc.pb.h"
#include "testing/watch_client.h"

using namespace appkit::bench;  // NOLINT: the helpers of bench_util.h
using appkit::FromProtoTime;
using Watch = appkit::testing::WatchClient<appkit::v1::GuardianEvent>;

namespace {

constexpr absl::Duration kRestartInterval = absl::Milliseconds(20);

std::shared_ptr<grpc::Channel> OwnChannel(const std::string& socket) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel("unix:" + socket, grpc::InsecureChannelCredentials(), args);
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(p * values.size()))];
}

appkit::v1::GuardianStatus Status(const std::string& socket) {
  auto stub = appkit::v1::Guardian::NewStub(
      grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  appkit::v1::GuardianStatus status;
  stub->GetStatus(&context, {}, &status);
  return status;
}

// Exit -> next start of the executor over the newest runs, in ms.
std::vector<double> RestartGaps(const appkit::v1::GuardianStatus& status) {
  std::vector<double> gaps;
  const auto& runs = status.history();
  for (int i = 1; i < runs.size(); ++i) {
    if (!runs[i - 1].has_end_time()) continue;
    gaps.push_back(absl::ToDoubleMilliseconds(FromProtoTime(runs[i].start_time()) -
                                              FromProtoTime(runs[i - 1].end_time())));
  }
  return gaps;
}

// Waits for `more` restarts after now, then returns the gaps of the newest runs.
std::vector<double> GapsAfter(const std::string& socket, int more) {
  const int from = Status(socket).restart_count();
  WaitFor([&] { return Status(socket).restart_count() >= from + more; }, absl::Seconds(60));
  return RestartGaps(Status(socket));
}

// Subscribes `count` watchers (8 streams per connection, the server's
// limit), waits until each has `events` events, returns the latencies (ms).
std::vector<double> Latencies(const std::string& socket, int count, size_t events,
                              std::vector<std::unique_ptr<Watch>>* keep) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<Watch>> watches;
  for (int i = 0; i < count; ++i) {
    if (i % 8 == 0) channels.push_back(OwnChannel(socket));
    auto stub =
        std::shared_ptr<appkit::v1::Guardian::Stub>(appkit::v1::Guardian::NewStub(channels.back()));
    watches.push_back(std::make_unique<Watch>([stub](grpc::ClientContext* context) {
      return stub->Watch(context, appkit::v1::WatchRequest());
    }));
  }
  for (auto& watch : watches) watch->WaitForSnapshot(absl::Seconds(30));
  std::vector<double> latencies;
  for (auto& watch : watches) {
    watch->WaitFor([&](const auto& seen) { return seen.size() >= events; }, absl::Seconds(120));
    const auto seen = watch->events();
    const auto arrivals = watch->arrivals();
    for (size_t i = 0; i < seen.size() && i < arrivals.size(); ++i) {
      latencies.push_back(absl::ToDoubleMilliseconds(arrivals[i] - FromProtoTime(seen[i].time())));
    }
  }
  for (auto& watch : watches) keep->push_back(std::move(watch));
  return latencies;
}

}  // namespace

int main() {
  char templ[] = "/tmp/appkit-bench-XXXXXX";
  const std::string dir = mkdtemp(templ);
  appkit::DaemonOptions options;
  options.pid_filename = dir + "/d.pid";
  options.daemon_entry = Module() + ":mark_and_fail";
  options.daemon_args.Set("events", dir + "/events");
  options.restart_interval = kRestartInterval;
  appkit::DaemonStartResult result = appkit::StartDaemon(options);
  if (result.status != appkit::DaemonRunStatus::kLaunched) {
    fprintf(stderr, "launch failed: %s\n", result.error.c_str());
    return 1;
  }
  const pid_t guardian = *result.pid;
  const std::string socket = options.pid_filename + ".sock";

  const std::vector<double> gaps_none = GapsAfter(socket, 25);
  std::vector<std::unique_ptr<Watch>> one_watch;
  const std::vector<double> one = Latencies(socket, 1, 300, &one_watch);
  one_watch.clear();
  std::vector<std::unique_ptr<Watch>> hundred_watches;
  const std::vector<double> hundred = Latencies(socket, 100, 300, &hundred_watches);
  const std::vector<double> gaps_hundred = GapsAfter(socket, 25);
  hundred_watches.clear();

  kill(guardian, SIGTERM);
  WaitExit(guardian, 15000);
  std::filesystem::remove_all(dir);

  printf("%-62s %10s %10s %8s\n", "watch_bench (executor crash loop, restart_interval 20ms)",
         "median", "p90", "target");
  printf("%-62s %8.3fms %8.3fms %8s\n", "event latency, 1 subscriber (state change -> client)",
         Percentile(one, 0.5), Percentile(one, 0.9), "<=1ms");
  printf("%-62s %8.3fms %8.3fms %8s\n", "event latency, 100 subscribers (all of them)",
         Percentile(hundred, 0.5), Percentile(hundred, 0.9), "<=1ms");
  printf("%-62s %8.3fms %8.3fms %8s\n", "executor exit -> next start, no subscriber",
         Percentile(gaps_none, 0.5), Percentile(gaps_none, 0.9), "same");
  printf("%-62s %8.3fms %8.3fms %8s\n", "executor exit -> next start, 100 subscribers",
         Percentile(gaps_hundred, 0.5), Percentile(gaps_hundred, 0.9), "same");
  printf("(%zu, %zu latency samples; %zu, %zu restarts; the gap includes the 20ms interval)\n",
         one.size(), hundred.size(), gaps_none.size(), gaps_hundred.size());
  return 0;
}
