// Command entries (SPEC §10) against runit, in the same run, with the same
// C program (bench/mark_program.c, which stamps its start):
//   - cold start -> program running: StartDaemon({command}) vs `runsv DIR`
//   - a crashed program (SIGKILL) -> its replacement running:
//     restart_interval 0 vs runsv's restart (each run lasts > 1 s first,
//     since runsv waits a second before restarting a faster exit).
// runit is used when `runsv` is in the PATH (Debian: apt-get install
// runit); its rows are skipped otherwise.
//
//   ./bazelw run //bench:command_bench
//
// Numbers, not asserts; medians over the rounds.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "bench/bench_util.h"
#include "client/appkit.h"

using namespace appkit::bench;  // NOLINT: the helpers of bench_util.h

namespace {

constexpr int kRounds = 11;

// The marks' count reaching `count`; the last one.
bool WaitMarks(const std::string& marks, size_t count, Mark* last) {
  std::vector<Mark> read;
  if (!WaitFor([&] { return (read = ReadMarks(marks)).size() >= count; }, absl::Seconds(20))) {
    return false;
  }
  *last = read[count - 1];
  return true;
}

struct Numbers {
  std::vector<double> start_ns, restart_ns;
  std::vector<double> returned_ns;  // appkit: StartDaemon's return
};

Numbers AppkitRounds(const std::string& dir) {
  Numbers numbers;
  const std::string work = dir + "/appkit";
  std::filesystem::create_directories(work);
  for (int i = 0; i < kRounds; ++i) {
    std::filesystem::remove(work + "/marks");
    appkit::DaemonOptions options;
    options.pid_filename = dir + "/appkit.pid";
    options.command = {MarkProgram()};
    options.working_directory = work;
    options.restart_interval = absl::ZeroDuration();
    const int64_t t0 = NowNs();
    appkit::DaemonStartResult result = appkit::StartDaemon(options);
    numbers.returned_ns.push_back(static_cast<double>(NowNs() - t0));
    if (result.status != appkit::DaemonRunStatus::kLaunched) {
      fprintf(stderr, "StartDaemon failed: %s\n", result.error.c_str());
      exit(1);
    }
    Mark first, second;
    if (!WaitMarks(work + "/marks", 1, &first)) exit(1);
    numbers.start_ns.push_back(static_cast<double>(first.ns - t0));
    absl::SleepFor(absl::Milliseconds(1100));  // as for runsv: a run of more than 1 s
    const int64_t t1 = NowNs();
    kill(first.pid, SIGKILL);
    if (!WaitMarks(work + "/marks", 2, &second)) exit(1);
    numbers.restart_ns.push_back(static_cast<double>(second.ns - t1));
    kill(*result.pid, SIGTERM);
    WaitExit(*result.pid, 10000);
    WaitExit(second.pid, 10000);
  }
  return numbers;
}

Numbers RunitRounds(const std::string& dir, const std::string& runsv) {
  Numbers numbers;
  for (int i = 0; i < kRounds; ++i) {
    const std::string service = dir + "/service" + std::to_string(i);
    std::filesystem::create_directories(service);
    std::filesystem::create_symlink(MarkProgram(), service + "/run");
    const int64_t t0 = NowNs();
    const pid_t pid = fork();
    if (pid == 0) {
      execl(runsv.c_str(), "runsv", service.c_str(), nullptr);
      _exit(127);
    }
    Mark first, second;
    if (!WaitMarks(service + "/marks", 1, &first)) exit(1);
    numbers.start_ns.push_back(static_cast<double>(first.ns - t0));
    absl::SleepFor(absl::Milliseconds(1100));
    const int64_t t1 = NowNs();
    kill(first.pid, SIGKILL);
    if (!WaitMarks(service + "/marks", 2, &second)) exit(1);
    numbers.restart_ns.push_back(static_cast<double>(second.ns - t1));
    kill(pid, SIGTERM);  // runsv: TERM to the program, then exits
    waitpid(pid, nullptr, 0);
    WaitExit(second.pid, 10000);
  }
  return numbers;
}

}  // namespace

int main() {
  char templ[] = "/tmp/appkit-bench-XXXXXX";
  const std::string dir = mkdtemp(templ);
  const std::string runsv = PeerProgram("runsv");
  // Interleaved is not possible (one round is seconds long); appkit first,
  // then runit, in the same process.
  const Numbers ours = AppkitRounds(dir);
  Numbers theirs;
  if (!runsv.empty()) theirs = RunitRounds(dir, runsv);
  std::filesystem::remove_all(dir);

  printf("| %-44s | %14s | %-12s |\n", "command_bench (medians of 11)", "value", "target");
  printf("|%s|%s|%s|\n", std::string(46, '-').c_str(), std::string(16, '-').c_str(),
         std::string(14, '-').c_str());
  Row("appkit cold start -> program running", Ms(Median(ours.start_ns)), "runit + 1 ms");
  Row("  of which StartDaemon -> it returns", Ms(Median(ours.returned_ns)), "");
  Row("appkit crashed program -> replacement runs", Ms(Median(ours.restart_ns)), "<= runit");
  if (runsv.empty()) {
    Row("runit (runsv not in the PATH)", "-", "");
  } else {
    Row("runit runsv start -> program running", Ms(Median(theirs.start_ns)), "");
    Row("runit crashed program -> replacement runs", Ms(Median(theirs.restart_ns)), "");
  }
  return 0;
}
