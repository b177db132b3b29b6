// Daemon benchmark: prints a table of how fast and lean StartDaemon's
// guardian and executor are (SPEC targets in the right column).
//
//   ./bazelw run //bench:daemon_bench
//
// Numbers, not asserts. Times are medians over the rounds.
#include <signal.h>
#include <sys/syscall.h>
#include <poll.h>
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
#include "client/appkit.h"

namespace {

int64_t NowNs() {
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000000000LL + now.tv_nsec;
}

struct Mark {
  std::string event;
  int pid;
  int64_t ns;
};

std::vector<Mark> ReadMarks(const std::string& path) {
  std::vector<Mark> marks;
  std::ifstream in(path);
  Mark m;
  while (in >> m.event >> m.pid >> m.ns) marks.push_back(m);
  return marks;
}

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Microseconds(100));
  }
  return true;
}

bool WaitExit(pid_t pid, int timeout_ms) {
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return true;
  pollfd pfd = {fd, POLLIN, 0};
  int n = poll(&pfd, 1, timeout_ms);
  close(fd);
  return n > 0;
}

double Median(std::vector<double> values) {
  if (values.empty()) return -1;
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// Sum over all threads of voluntary + involuntary context switches.
long ContextSwitches(pid_t pid) {
  long total = 0;
  std::error_code error;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", error)) {
    std::ifstream status(task.path() / "status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0 ||
          line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) {
        total += std::stol(line.substr(line.find(':') + 1));
      }
    }
  }
  return total;
}

double CpuSeconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  std::vector<std::string> fields = absl::StrSplit(content.substr(content.rfind(')') + 2), ' ');
  return (std::stod(fields[11]) + std::stod(fields[12])) / sysconf(_SC_CLK_TCK);
}

long StatusKb(pid_t pid, const std::string& key) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
  }
  return -1;
}

int Threads(pid_t pid) { return static_cast<int>(StatusKb(pid, "Threads")); }

long PssKb(pid_t pid) {
  std::ifstream rollup("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string line;
  while (std::getline(rollup, line)) {
    if (line.rfind("Pss:", 0) == 0) return std::stol(line.substr(4));
  }
  return -1;
}

std::string Module() {
  const char* dir = getenv("RUNFILES_DIR");
  std::string base = dir ? std::string(dir) + "/appkit" : ".";
  return base + "/bench/libbench_module.so";
}

void Row(const char* metric, const std::string& value, const char* target) {
  printf("| %-44s | %14s | %-12s |\n", metric, value.c_str(), target);
}

std::string Ms(double ns) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%.2f ms", ns / 1e6);
  return buf;
}

}  // namespace

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
