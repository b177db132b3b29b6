// launch.cc: `bazel run //:launch [-- DIR]` starts the greeter daemon (files
// in DIR, default /tmp/appkit-greeter) and returns; appkitctl watches and
// stops it.
#include <sys/stat.h>

#include <cstdio>
#include <string>

#include "client/appkit.h"

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "/tmp/appkit-greeter";
  mkdir(dir.c_str(), 0700);  // (fine if it exists)
  appkit::DaemonOptions options;
  options.pid_filename = dir + "/greeter.pid";
  options.daemon_entry = "greeter:daemon_main";  // libgreeter.so, next to this program
  options.daemon_args.Set("dir", dir);
  options.stderr_filename = dir + "/greeter-err.txt";
  options.logging_config = *appkit::LoggingConfigFromJson(
      R"({"handlers": [{"file": {"filename": ")" + dir + R"(/greeter.log"}}]})");
  options.restart_interval = absl::Seconds(1);
  appkit::DaemonStartResult result = appkit::StartDaemon(options);
  if (result.status == appkit::DaemonRunStatus::kLaunchFailed) {
    fprintf(stderr, "cannot start the greeter: %s\n", result.error.c_str());
    return 1;
  }
  printf("greeter runs: guardian pid %d, files in %s\n", *result.pid, dir.c_str());
  return 0;
}
