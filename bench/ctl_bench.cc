// appkitctl whole-command benchmark: how long a person waits for
// `appkitctl status` and `appkitctl workers` (process start to exit,
// output read), against running daemons.
//
//   ./bazelw run //bench:ctl_bench [-- <rounds, default 101>]
//
// Starts one plain daemon and one with a pool of 200 workers (StartDaemon),
// then runs the appkitctl binary `rounds` times per command and prints
// medians (and the 90th percentile). A bare fork+exec+wait of /bin/true is
// the floor of any command on this machine.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
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

std::string Runfile(const std::string& path) {
  const char* dir = getenv("RUNFILES_DIR");
  return (dir ? std::string(dir) + "/appkit/" : std::string("./")) + path;
}

// Runs argv with stdout/stderr to /dev/null; returns the exit code and
// sets `ns` to the wall time from spawn to reaped, `cpu_ns` to the CPU
// time (user + system) the command used: on a busy machine the wall time
// includes waiting for a core, the CPU time does not.
int Time(const std::vector<std::string>& argv, double* ns, double* cpu_ns) {
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  const int64_t start = NowNs();
  pid_t pid = 0;
  if (posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ) != 0) {
    perror("posix_spawn");
    exit(1);
  }
  int status = 0;
  rusage usage = {};
  wait4(pid, &status, 0, &usage);
  *ns = static_cast<double>(NowNs() - start);
  auto to_ns = [](const timeval& t) { return t.tv_sec * 1e9 + t.tv_usec * 1e3; };
  *cpu_ns = to_ns(usage.ru_utime) + to_ns(usage.ru_stime);
  posix_spawn_file_actions_destroy(&actions);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct Figure {
  double median = -1, p90 = -1, cpu = -1;
  int bad_exits = 0;
};

Figure Measure(const std::vector<std::string>& argv, int rounds) {
  std::vector<double> times, cpu;
  Figure figure;
  double ns = 0, cpu_ns = 0;
  Time(argv, &ns, &cpu_ns);  // warm the page cache
  for (int i = 0; i < rounds; ++i) {
    if (Time(argv, &ns, &cpu_ns) != 0) ++figure.bad_exits;
    times.push_back(ns);
    cpu.push_back(cpu_ns);
  }
  std::sort(times.begin(), times.end());
  figure.median = Median(times);
  figure.p90 = times[times.size() * 9 / 10];
  figure.cpu = Median(cpu);
  return figure;
}

pid_t Start(const appkit::DaemonOptions& options) {
  appkit::DaemonStartResult result = appkit::StartDaemon(options);
  if (result.status != appkit::DaemonRunStatus::kLaunched) {
    fprintf(stderr, "launch failed: %s\n", result.error.c_str());
    exit(1);
  }
  return *result.pid;
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? atoi(argv[1]) : 101;
  const int kWorkers = 200;
  char templ[] = "/tmp/appkit-cbench-XXXXXX";
  const std::string dir = mkdtemp(templ);
  const std::string ctl = Runfile("client/appkitctl");

  // The plain daemon's pid file is where `--config daemons.yaml --state-dir
  // <dir>/state` puts it, so the config form can be timed too.
  std::filesystem::create_directories(dir + "/state/plain");
  FILE* config = fopen((dir + "/daemons.yaml").c_str(), "w");
  fprintf(config, "plain:\n  description: bench\n  entry: %s:mark_and_wait\n", Module().c_str());
  fclose(config);
  appkit::DaemonOptions plain;
  plain.pid_filename = dir + "/state/plain/plain.pid";
  plain.daemon_entry = Module() + ":mark_and_wait";
  plain.daemon_args.Set("events", dir + "/plain.events");
  const pid_t plain_guardian = Start(plain);

  appkit::DaemonOptions pool;
  pool.pid_filename = dir + "/pool.pid";
  pool.daemon_entry = Module() + ":run_pool";
  std::filesystem::create_directories(dir + "/pool");
  pool.daemon_args.Set("events", dir + "/pool.events")
      .Set("count", kWorkers)
      .Set("entry", "mark_and_wait")
      .Set("dir", dir + "/pool");
  pool.stderr_filename = dir + "/pool.err";
  const pid_t pool_guardian = Start(pool);
  if (!WaitFor([&] { return ReadMarks(dir + "/plain.events").size() >= 1; }, absl::Seconds(10)) ||
      !WaitFor([&] { return ReadMarks(dir + "/pool.events").size() >= kWorkers + 1; },
               absl::Seconds(60))) {
    fprintf(stderr, "the daemons did not start (see %s)\n", dir.c_str());
    return 1;
  }
  absl::SleepFor(absl::Milliseconds(300));  // let the pool's debug writes settle

  struct Case {
    const char* metric;
    std::vector<std::string> argv;
    const char* target;
  };
  const std::vector<Case> cases = {
      {"fork+exec+wait of /bin/true (floor)", {"/bin/true"}, ""},
      {"appkitctl --help", {ctl, "--help"}, ""},
      {"appkitctl status", {ctl, "status", "--pid-file", plain.pid_filename}, "<= 3 ms"},
      {"appkitctl status --json",
       {ctl, "status", "--pid-file", plain.pid_filename, "--json"},
       "<= 3 ms"},
      {"appkitctl --config daemons.yaml status NAME",
       {ctl, "--config", dir + "/daemons.yaml", "--state-dir", dir + "/state", "status", "plain"},
       "<= 3 ms"},
      {"appkitctl --config daemons.yaml list",
       {ctl, "--config", dir + "/daemons.yaml", "--state-dir", dir + "/state", "list"},
       ""},
      {"appkitctl workers (200 workers)",
       {ctl, "workers", "--pid-file", pool.pid_filename},
       "<= 5 ms"},
      {"appkitctl workers --json (200 workers)",
       {ctl, "workers", "--pid-file", pool.pid_filename, "--json"},
       "<= 5 ms"},
  };
  std::vector<Figure> figures;
  for (const Case& c : cases) figures.push_back(Measure(c.argv, rounds));

  kill(plain_guardian, SIGTERM);
  kill(pool_guardian, SIGTERM);
  WaitExit(plain_guardian, 30000);
  WaitExit(pool_guardian, 30000);
  std::filesystem::remove_all(dir);

  printf("appkitctl whole-command time, median of %d (wall; p90 of wall; CPU user+sys)\n\n",
         rounds);
  printf("| %-44s | %8s | %8s | %8s | %-8s |\n", "command", "wall", "p90", "CPU", "target");
  printf("|%s|%s|%s|%s|%s|\n", std::string(46, '-').c_str(), std::string(10, '-').c_str(),
         std::string(10, '-').c_str(), std::string(10, '-').c_str(), std::string(10, '-').c_str());
  for (size_t i = 0; i < cases.size(); ++i) {
    const Figure& f = figures[i];
    printf("| %-44s | %5.2f ms | %5.2f ms | %5.2f ms | %-8s |", cases[i].metric, f.median / 1e6,
           f.p90 / 1e6, f.cpu / 1e6, cases[i].target);
    if (f.bad_exits > 0) printf(" %d runs exited non-zero", f.bad_exits);
    printf("\n");
  }
  return 0;
}
