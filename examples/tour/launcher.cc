// examples/tour/launcher.cc: starts the daemon and returns
// (./bazelw run //examples/tour:launcher [-- DIR]).
#include <sys/stat.h>

#include <cstdio>

#include "client/appkit.h"

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "/tmp/appkit-tour";  // the daemon's files
  mkdir(dir.c_str(), 0700);                        // (fine if it exists)
  auto logging = appkit::LoggingConfigFromJson(
      R"({"handlers": [{"file": {"filename": ")" + dir + R"(/demo.log"}}]})");
  if (!logging.ok()) return 1;
  appkit::DaemonOptions options;
  options.pid_filename = dir + "/demo.pid";
  options.daemon_entry = "demo:daemon_main";       // lib<module>.so:<function>
  options.daemon_args.Set("dir", dir);
  options.logging_config = *logging;               // guardian, executor, pool: demo.log
  options.stderr_filename = dir + "/demo-err.txt";
  options.restart_interval = absl::Seconds(1);     // restart the executor after a crash
  appkit::DaemonStartResult r = appkit::StartDaemon(options);
  // r.status: kLaunched (r.pid = guardian), kAlreadyRunning (r.pid = the
  // running one) or kLaunchFailed (r.error says why; nothing left behind).
  if (r.status == appkit::DaemonRunStatus::kLaunchFailed) {
    fprintf(stderr, "cannot start the demo: %s\n", r.error.c_str());
    return 1;
  }
  printf("demo runs: guardian pid %d, files in %s\n", *r.pid, dir.c_str());
  return 0;
}
