// First-StartDaemon benchmark (issue 17 items 2 and 3): what a user's
// launcher sees when it calls StartDaemon once, in a fresh process.
//
//   ./bazelw run //bench:first_start_bench [-- <rounds, default 21>]
//
// Each round spawns this binary again (--once): the child notes the time
// just before its one StartDaemon call and prints it; the entry (or, for a
// daemon with a pool of 1, the first worker's entry) marks when it runs.
// Printed beside: the same StartDaemon -> entry repeated in this process
// (what //bench:daemon_bench measures), and the launcher's own start
// (spawn -> just before StartDaemon). Medians; numbers, never asserts.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "client/appkit.h"

extern char** environ;

using namespace appkit::bench;  // NOLINT: the helpers of bench_util.h

namespace {

appkit::DaemonOptions Options(const std::string& dir, bool pool) {
  appkit::DaemonOptions options;
  options.pid_filename = dir + "/d.pid";
  options.daemon_args.Set("events", dir + "/events");
  if (pool) {
    options.daemon_entry = Module() + ":run_pool";
    options.daemon_args.Set("count", 1).Set("entry", "mark_and_wait").Set("dir", dir);
  } else {
    options.daemon_entry = Module() + ":mark_and_wait";
  }
  return options;
}

// The child: one StartDaemon; prints "<ns before the call> <guardian pid>".
int Once(const std::string& dir, bool pool) {
  appkit::DaemonOptions options = Options(dir, pool);
  const int64_t cpu0 = ThreadCpuNs();
  const int64_t t0 = NowNs();
  appkit::DaemonStartResult result = appkit::StartDaemon(options);
  const int64_t t1 = NowNs();
  const int64_t cpu = ThreadCpuNs() - cpu0;
  if (result.status != appkit::DaemonRunStatus::kLaunched) {
    fprintf(stderr, "launch failed: %s\n", result.error.c_str());
    return 1;
  }
  printf("%lld %d %lld %lld\n", static_cast<long long>(t0), *result.pid, static_cast<long long>(t1),
         static_cast<long long>(cpu));
  return 0;
}

// The mark that says the measured entry runs: "start", by the daemon's
// entry (mark_and_wait), or for a pool by its worker (the executor's
// run_pool marks "pool").
bool EntryRan(const std::string& events, Mark* mark) {
  for (const Mark& m : ReadMarks(events)) {
    if (m.event == "start") {
      *mark = m;
      return true;
    }
  }
  return false;
}

struct Round {
  double spawn_to_call = -1, call_to_entry = -1;
  double call_to_return = -1;  // StartDaemon's own time, in the launcher
  double call_cpu = -1;        // its CPU time there (robust to a noisy machine)
};

Round Fresh(const std::string& self, const std::string& dir, bool pool) {
  std::filesystem::remove(dir + "/events");
  int out[2];
  if (pipe(out) != 0) exit(1);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  std::vector<std::string> argv = {self, "--once", dir, pool ? "pool" : "plain"};
  std::vector<char*> args;
  for (std::string& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  const int64_t spawned = NowNs();
  pid_t pid = 0;
  if (posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ) != 0) exit(1);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  char buffer[128] = {};
  ssize_t n = read(out[0], buffer, sizeof(buffer) - 1);
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  long long t0 = 0, t1 = 0, cpu = 0;
  int guardian = 0;
  Round round;
  if (n <= 0 || sscanf(buffer, "%lld %d %lld %lld", &t0, &guardian, &t1, &cpu) != 4) return round;
  round.call_to_return = static_cast<double>(t1 - t0);
  round.call_cpu = static_cast<double>(cpu);
  Mark mark;
  if (WaitFor([&] { return EntryRan(dir + "/events", &mark); }, absl::Seconds(10))) {
    round.call_to_entry = static_cast<double>(mark.ns - t0);
  }
  round.spawn_to_call = static_cast<double>(t0 - spawned);
  kill(guardian, SIGTERM);
  WaitExit(guardian, 10000);
  return round;
}

Round Repeated(const std::string& dir) {
  appkit::DaemonOptions options = Options(dir, false);
  std::filesystem::remove(dir + "/events");
  Round round;
  const int64_t cpu0 = ThreadCpuNs();
  const int64_t t0 = NowNs();
  appkit::DaemonStartResult result = appkit::StartDaemon(options);
  round.call_to_return = static_cast<double>(NowNs() - t0);
  round.call_cpu = static_cast<double>(ThreadCpuNs() - cpu0);
  if (result.status != appkit::DaemonRunStatus::kLaunched) return round;
  Mark mark;
  if (WaitFor([&] { return EntryRan(dir + "/events", &mark); }, absl::Seconds(10))) {
    round.call_to_entry = static_cast<double>(mark.ns - t0);
  }
  kill(*result.pid, SIGTERM);
  WaitExit(*result.pid, 10000);
  return round;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--once") {
    return Once(argv[2], std::string(argv[3]) == "pool");
  }
  const int rounds = argc > 1 ? atoi(argv[1]) : 21;
  char templ[] = "/tmp/appkit-fbench-XXXXXX";
  const std::string dir = mkdtemp(templ);
  const std::string self = std::filesystem::read_symlink("/proc/self/exe");

  std::vector<double> fresh, launcher, repeated, pool_fresh, fresh_return, repeated_return;
  std::vector<double> fresh_cpu, repeated_cpu;
  Repeated(dir);                      // warm the page cache
  for (int i = 0; i < rounds; ++i) {  // interleaved: the load drifts alike
    Round plain = Fresh(self, dir, false);
    fresh.push_back(plain.call_to_entry);
    fresh_return.push_back(plain.call_to_return);
    fresh_cpu.push_back(plain.call_cpu);
    launcher.push_back(plain.spawn_to_call);
    Round again = Repeated(dir);
    repeated.push_back(again.call_to_entry);
    repeated_return.push_back(again.call_to_return);
    repeated_cpu.push_back(again.call_cpu);
    pool_fresh.push_back(Fresh(self, dir, true).call_to_entry);
  }
  std::filesystem::remove_all(dir);
  printf("first StartDaemon in a fresh launcher, median of %d (interleaved rounds)\n\n", rounds);
  Row("StartDaemon -> entry, repeated in-process", Ms(Median(repeated)), "");
  Row("StartDaemon -> entry, first in fresh process", Ms(Median(fresh)), "repeated+0.5");
  Row("StartDaemon returns, repeated in-process", Ms(Median(repeated_return)), "");
  Row("StartDaemon returns, first in fresh process", Ms(Median(fresh_return)), "");
  Row("StartDaemon CPU time, repeated in-process", Ms(Median(repeated_cpu)), "");
  Row("StartDaemon CPU time, first in fresh process", Ms(Median(fresh_cpu)), "repeated+0.5");
  Row("launcher spawn -> its StartDaemon call", Ms(Median(launcher)), "");
  Row("StartDaemon -> 1st worker entry (pool of 1)", Ms(Median(pool_fresh)), "<= 10 ms");
  return 0;
}
