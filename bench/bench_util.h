// Helpers shared by the benchmarks: event marks written by the bench
// module, waiting on events, medians, and /proc readings (context
// switches, CPU time, RSS, Pss) of a process.
#ifndef APPKIT_BENCH_BENCH_UTIL_H_
#define APPKIT_BENCH_BENCH_UTIL_H_

#include <poll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace appkit::bench {

inline int64_t NowNs() {
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000000000LL + now.tv_nsec;
}

// This thread's CPU time (not counting time the machine gave others).
inline int64_t ThreadCpuNs() {
  timespec now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000000000LL + now.tv_nsec;
}

struct Mark {
  std::string event;
  int pid;
  int64_t ns;
};

inline std::vector<Mark> ReadMarks(const std::string& path) {
  std::vector<Mark> marks;
  std::ifstream in(path);
  Mark m;
  while (in >> m.event >> m.pid >> m.ns) marks.push_back(m);
  return marks;
}

inline bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Microseconds(100));
  }
  return true;
}

inline bool WaitExit(pid_t pid, int timeout_ms) {
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return true;
  pollfd pfd = {fd, POLLIN, 0};
  int n = poll(&pfd, 1, timeout_ms);
  close(fd);
  return n > 0;
}

inline double Median(std::vector<double> values) {
  if (values.empty()) return -1;
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// Sum over all threads of voluntary + involuntary context switches.
inline long ContextSwitches(pid_t pid) {
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

inline double CpuSeconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  std::vector<std::string> fields = absl::StrSplit(content.substr(content.rfind(')') + 2), ' ');
  return (std::stod(fields[11]) + std::stod(fields[12])) / sysconf(_SC_CLK_TCK);
}

inline long StatusKb(pid_t pid, const std::string& key) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
  }
  return -1;
}

inline int Threads(pid_t pid) { return static_cast<int>(StatusKb(pid, "Threads")); }

inline long PssKb(pid_t pid) {
  std::ifstream rollup("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string line;
  while (std::getline(rollup, line)) {
    if (line.rfind("Pss:", 0) == 0) return std::stol(line.substr(4));
  }
  return -1;
}

inline std::string Module() {
  const char* dir = getenv("RUNFILES_DIR");
  std::string base = dir ? std::string(dir) + "/appkit" : ".";
  return base + "/bench/libbench_module.so";
}

// bench/mark_program.c, built beside the benchmark (an absolute path: the
// daemons and runit run it from other directories).
inline std::string MarkProgram() {
  const char* dir = getenv("RUNFILES_DIR");
  return std::filesystem::absolute((dir ? std::string(dir) + "/appkit" : std::string(".")) +
                                   "/bench/mark_program")
      .string();
}

// A peer supervisor's program (runit's runsv, runsvdir) where Debian
// installs it, or "" when it is not installed.
inline std::string PeerProgram(const std::string& name) {
  for (const char* dir : {"/usr/bin", "/usr/sbin", "/bin", "/sbin"}) {
    const std::string path = std::string(dir) + "/" + name;
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

inline void Row(const char* metric, const std::string& value, const char* target) {
  printf("| %-44s | %14s | %-12s |\n", metric, value.c_str(), target);
}

inline std::string Ms(double ns) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%.2f ms", ns / 1e6);
  return buf;
}

}  // namespace appkit::bench

#endif  // APPKIT_BENCH_BENCH_UTIL_H_
