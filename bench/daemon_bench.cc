// Daemon benchmark: prints a table of how fast and lean StartDaemon's
// guardian and executor are (SPEC targets in the right column).
//
//   ./bazelw run //bench:daemon_bench
//
// Numbers, not asserts. Times are medians over the rounds.
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/bench_util.h"
#include "client/appkit.h"

using namespace appkit::bench;  // NOLINT: the helpers of bench_util.h

int main() {
  char templ[] = "/tmp/appkit-bench-XXXXXX";
  std::string dir = mkdtemp(templ);
  const std::string events = dir + "/events";
  const int rounds = 21;

  // 1. StartDaemon -> first line of the entry, and SIGTERM -> tree gone.
  std::vector<double> start_ns, stop_ns;
  for (int i = 0; i < rounds; ++i) {
    std::filesystem::remove(events);
    appkit::DaemonOptions options;
    options.pid_filename = dir + "/d.pid";
    options.daemon_entry = Module() + ":mark_and_wait";
    options.daemon_args.Set("events", events);
    int64_t t0 = NowNs();
    appkit::DaemonStartResult result = appkit::StartDaemon(options);
    if (result.status != appkit::DaemonRunStatus::kLaunched) {
      fprintf(stderr, "launch failed: %s\n", result.error.c_str());
      return 1;
    }
    std::vector<Mark> marks;
    WaitFor([&] { return !(marks = ReadMarks(events)).empty(); }, absl::Seconds(10));
    start_ns.push_back(static_cast<double>(marks.at(0).ns - t0));
    pid_t executor = marks.at(0).pid;
    int64_t t1 = NowNs();
    kill(*result.pid, SIGTERM);
    WaitExit(*result.pid, 10000);
    WaitExit(executor, 10000);
    stop_ns.push_back(static_cast<double>(NowNs() - t1));
  }

  // 2. Executor exit -> new executor's entry runs (restart_interval = 0).
  std::vector<double> restart_ns;
  {
    std::filesystem::remove(events);
    appkit::DaemonOptions options;
    options.pid_filename = dir + "/r.pid";
    options.daemon_entry = Module() + ":mark_and_fail";
    options.daemon_args.Set("events", events);
    options.restart_interval = absl::ZeroDuration();
    appkit::DaemonStartResult result = appkit::StartDaemon(options);
    std::vector<Mark> marks;
    WaitFor([&] { return (marks = ReadMarks(events)).size() >= 2 * (rounds + 1); },
            absl::Seconds(30));
    kill(*result.pid, SIGTERM);
    WaitExit(*result.pid, 10000);
    for (size_t i = 1; i + 2 < marks.size(); i += 2) {
      // marks: start, exit, start, exit, ...: exit(i) -> start(i+1)
      restart_ns.push_back(static_cast<double>(marks[i + 1].ns - marks[i].ns));
    }
  }

  // 3. Idle guardian for 10 s: wake-ups, CPU, memory.
  long guardian_cs = 0, executor_rss = 0, guardian_rss = 0, guardian_pss = 0;
  long guardian_rss_after_query = 0;
  double guardian_cpu = 0;
  int guardian_threads = 0;
  {
    std::filesystem::remove(events);
    appkit::DaemonOptions options;
    options.pid_filename = dir + "/i.pid";
    options.daemon_entry = Module() + ":mark_and_wait";
    options.daemon_args.Set("events", events);
    appkit::DaemonStartResult result = appkit::StartDaemon(options);
    std::vector<Mark> marks;
    WaitFor([&] { return !(marks = ReadMarks(events)).empty(); }, absl::Seconds(10));
    pid_t guardian = *result.pid;
    absl::SleepFor(absl::Milliseconds(200));
    long cs0 = ContextSwitches(guardian);
    double cpu0 = CpuSeconds(guardian);
    absl::SleepFor(absl::Seconds(10));
    guardian_cs = ContextSwitches(guardian) - cs0;
    guardian_cpu = CpuSeconds(guardian) - cpu0;
    guardian_rss = StatusKb(guardian, "VmRSS");
    guardian_pss = PssKb(guardian);
    guardian_threads = Threads(guardian);
    executor_rss = StatusKb(marks.at(0).pid, "VmRSS");
    // After a first control-plane query the guardian runs gRPC.
    std::string cmd;
    kill(guardian, SIGTERM);
    WaitExit(guardian, 10000);
    (void)guardian_rss_after_query;
  }
  std::filesystem::remove_all(dir);

  printf("appkit daemon benchmark (%d rounds; medians)\n\n", rounds);
  printf("| %-44s | %14s | %-12s |\n", "metric", "value", "target");
  printf("|%s|%s|%s|\n", std::string(46, '-').c_str(), std::string(16, '-').c_str(),
         std::string(14, '-').c_str());
  Row("StartDaemon call -> entry runs", Ms(Median(start_ns)), "<= 5 ms");
  Row("executor exit -> new entry runs (interval 0)", Ms(Median(restart_ns)), "<= 5 ms");
  Row("SIGTERM to guardian -> whole tree gone", Ms(Median(stop_ns)), "<= 50 ms");
  char buf[64];
  snprintf(buf, sizeof(buf), "%.1f /s", guardian_cs / 10.0);
  Row("idle guardian wake-ups (10 s)", buf, "<= 2 /s");
  snprintf(buf, sizeof(buf), "%.3f s", guardian_cpu);
  Row("idle guardian CPU time (10 s)", buf, "");
  snprintf(buf, sizeof(buf), "%d", guardian_threads);
  Row("idle guardian threads", buf, "");
  snprintf(buf, sizeof(buf), "%.1f MB", guardian_rss / 1024.0);
  Row("guardian RSS", buf, "<= 10 MB");
  snprintf(buf, sizeof(buf), "%.1f MB", guardian_pss / 1024.0);
  Row("guardian Pss", buf, "");
  snprintf(buf, sizeof(buf), "%.1f MB", executor_rss / 1024.0);
  Row("executor RSS", buf, "");
  return 0;
}
