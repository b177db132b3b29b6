// Foreground mode (SPEC §10): the memory and idle wake-ups of
// `appkitctl --config F run NAME` (what a container runs as PID 1, or
// systemd as a Type=notify service's main process) and of its guardian,
// with an idle entry. Prints a table; asserts nothing.
//
//   ./bazelw run //bench:foreground_bench
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "bench/bench_util.h"

extern char** environ;

using namespace appkit::bench;

int main() {
  const char* runfiles = getenv("RUNFILES_DIR");
  const std::string ctl =
      (runfiles ? std::string(runfiles) + "/appkit" : ".") + "/client/appkitctl";
  char tmpl[] = "/tmp/appkit-fgbench-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string events = dir + "/events";
  std::ofstream(dir + "/daemons.yaml")
      << "fg:\n  entry: " << std::filesystem::absolute(Module()).string()
      << ":mark_and_wait\n  args: {events: " << events << "}\n";
  std::string config = dir + "/daemons.yaml";
  std::vector<std::string> argv = {std::filesystem::absolute(ctl).string(), "--config", config,
                                   "run", "fg"};
  std::vector<char*> args;
  for (std::string& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  pid_t run = 0;
  if (posix_spawn(&run, args[0], nullptr, nullptr, args.data(), environ) != 0) {
    fprintf(stderr, "cannot start %s\n", ctl.c_str());
    return 1;
  }
  std::vector<Mark> marks;
  if (!WaitFor([&] { return !(marks = ReadMarks(events)).empty(); }, absl::Seconds(20))) {
    fprintf(stderr, "the entry did not run\n");
    kill(run, SIGKILL);
    return 1;
  }
  absl::SleepFor(absl::Milliseconds(300));
  std::ifstream children("/proc/" + std::to_string(run) + "/task/" + std::to_string(run) +
                         "/children");
  pid_t guardian = 0;
  children >> guardian;
  const long cs0 = ContextSwitches(run);
  absl::SleepFor(absl::Seconds(5));
  const long run_cs = ContextSwitches(run) - cs0;
  const long run_rss = StatusKb(run, "VmRSS"), run_pss = PssKb(run);
  const long guardian_rss = StatusKb(guardian, "VmRSS"), guardian_pss = PssKb(guardian);
  const int64_t stop_start = NowNs();
  kill(run, SIGTERM);
  int status = 0;
  waitpid(run, &status, 0);
  const int64_t stop_ns = NowNs() - stop_start;
  std::filesystem::remove_all(dir);

  printf("appkit foreground benchmark (appkitctl run, idle entry)\n\n");
  printf("| %-44s | %14s | %-12s |\n", "metric", "value", "target");
  printf("|%s|%s|%s|\n", std::string(46, '-').c_str(), std::string(16, '-').c_str(),
         std::string(14, '-').c_str());
  char buf[64];
  snprintf(buf, sizeof(buf), "%.1f / %.1f MB", run_rss / 1024.0, run_pss / 1024.0);
  Row("appkitctl run (the foreground process) RSS/Pss", buf, "");
  snprintf(buf, sizeof(buf), "%.1f / %.1f MB", guardian_rss / 1024.0, guardian_pss / 1024.0);
  Row("its guardian RSS/Pss", buf, "");
  snprintf(buf, sizeof(buf), "%.1f /s", run_cs / 5.0);
  Row("idle appkitctl run wake-ups (5 s)", buf, "0 /s");
  Row("SIGTERM to appkitctl run -> it exited", Ms(static_cast<double>(stop_ns)), "");
  snprintf(buf, sizeof(buf), "%d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  Row("its exit status", buf, "0");
  return 0;
}
