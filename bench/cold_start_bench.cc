// Cold start of a command daemon (bench/mark_program.c), StartDaemon ->
// the program running, over many short rounds: the figure command_bench
// gives, with enough rounds to tell builds apart on a noisy machine.
// Given directories of appkit binaries (APPKIT_BIN_DIR: e.g. one holding
// the guardian of each build to compare), the rounds interleave them, so
// each is measured in the same minutes.
//
//   ./bazelw run -c opt //bench:cold_start_bench -- [rounds] [bin dir]...
//
// Numbers, not asserts; medians.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "bench/bench_util.h"
#include "client/appkit.h"

using namespace appkit::bench;  // NOLINT: the helpers of bench_util.h

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? atoi(argv[1]) : 61;
  std::vector<std::string> dirs(argv + std::min(argc, 2), argv + argc);
  if (dirs.empty()) dirs.push_back("");  // this build's binaries
  char templ[] = "/tmp/appkit-cold-XXXXXX";
  const std::string work = mkdtemp(templ);
  std::vector<std::vector<double>> running(dirs.size()), returned(dirs.size());
  for (int round = 0; round < rounds; ++round) {
    for (size_t v = 0; v < dirs.size(); ++v) {
      if (dirs[v].empty()) {
        unsetenv("APPKIT_BIN_DIR");
      } else {
        setenv("APPKIT_BIN_DIR", dirs[v].c_str(), 1);
      }
      std::filesystem::remove(work + "/marks");
      appkit::DaemonOptions options;
      options.pid_filename = work + "/cold.pid";
      options.command = {MarkProgram()};
      options.working_directory = work;
      const int64_t t0 = NowNs();
      appkit::DaemonStartResult result = appkit::StartDaemon(options);
      const int64_t t1 = NowNs();
      if (result.status != appkit::DaemonRunStatus::kLaunched) {
        fprintf(stderr, "StartDaemon failed: %s\n", result.error.c_str());
        return 1;
      }
      std::vector<Mark> marks;
      if (!WaitFor([&] { return !(marks = ReadMarks(work + "/marks")).empty(); },
                   absl::Seconds(10))) {
        return 1;
      }
      running[v].push_back(static_cast<double>(marks[0].ns - t0));
      returned[v].push_back(static_cast<double>(t1 - t0));
      kill(*result.pid, SIGTERM);
      WaitExit(*result.pid, 10000);
    }
  }
  std::filesystem::remove_all(work);
  printf("| %-40s | %24s | %22s |\n", "cold_start_bench (medians)", "StartDaemon -> program runs",
         "StartDaemon returns");
  printf("|%s|%s|%s|\n", std::string(42, '-').c_str(), std::string(26, '-').c_str(),
         std::string(24, '-').c_str());
  for (size_t v = 0; v < dirs.size(); ++v) {
    printf("| %-40s | %24s | %22s |\n", dirs[v].empty() ? "(this build)" : dirs[v].c_str(),
           Ms(Median(running[v])).c_str(), Ms(Median(returned[v])).c_str());
  }
  return 0;
}
