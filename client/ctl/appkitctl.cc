// appkitctl: look at and stop appkit daemons (SPEC §6).
//
//   appkitctl status  --pid-file F [--json]
//   appkitctl stop    --pid-file F [--timeout 10s]
//   appkitctl workers --pid-file F [--json]
//   appkitctl debug   --pid-file F
//   appkitctl --config daemons.yaml list | start NAME | stop NAME | status NAME
//                                     | workers NAME | debug NAME
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/appkit.h"
#include "client/ctl/ctl_commands.h"
#include "client/ctl/daemons_config.h"
#include "common/option_checks.h"
#include "common/safe_file.h"

ABSL_FLAG(std::string, pid_file, "", "the daemon's pid file (status, stop, workers, debug)");
ABSL_FLAG(std::string, socket, "", "its control socket (default: <pid file>.sock)");
ABSL_FLAG(bool, json, false, "print JSON instead of a table (status, workers)");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10), "how long stop waits for the daemon to end");
ABSL_FLAG(std::string, config, "", "a daemons.yaml: act on the named daemons it defines");
ABSL_FLAG(std::string, state_dir, "",
          "with --config: where each daemon's files live (default: appkit-state next to the "
          "config file)");

namespace appkit::ctl {
namespace {

constexpr char kUsageText[] = R"(look at and stop appkit daemons.

  appkitctl status  --pid-file F [--json]      is the daemon running? (table or JSON)
  appkitctl stop    --pid-file F [--timeout 10s]
                                               ask it to quit and wait until it is gone
  appkitctl workers --pid-file F [--json]      its worker pool
  appkitctl debug   --pid-file F               its debug snapshot (debug-file JSON)

  appkitctl --config daemons.yaml [--state-dir DIR] list
  appkitctl --config daemons.yaml start|stop|status|workers|debug NAME

Exit codes: 0 success (status: running; stop: stopped or was not running;
start: started or already running), 1 error, 2 usage, 3 not running
(status, workers, debug).)";

int Usage(const std::string& problem) {
  fprintf(stderr, "appkitctl: %s\nRun appkitctl --help for the commands.\n", problem.c_str());
  return kUsage;
}

int RunOnPidFile(const std::string& command, const std::vector<std::string>& rest) {
  if (!rest.empty()) return Usage("unexpected argument '" + rest[0] + "'");
  Target target{absl::GetFlag(FLAGS_pid_file), absl::GetFlag(FLAGS_socket)};
  if (target.pid_filename.empty()) return Usage(command + " needs --pid-file");
  const bool json = absl::GetFlag(FLAGS_json);
  if (command == "status") return Status(target, json);
  if (command == "stop") return Stop(target, absl::GetFlag(FLAGS_timeout));
  if (command == "workers") return Workers(target, json);
  if (command == "debug") return Debug(target);
  return Usage("unknown command '" + command + "'");
}

int List(const DaemonsConfig& config) {
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "RUNNING", "PID", "UPTIME", "RESTARTS", "STATE"}};
  for (const NamedDaemon& daemon : config.daemons) {
    Summary summary = Summarize(Target{daemon.options.pid_filename, ""});
    rows.push_back({daemon.name, summary.running ? "yes" : "no",
                    summary.running ? absl::StrCat(summary.pid) : "-", summary.uptime,
                    summary.restarts, summary.state});
  }
  PrintTable(rows);
  return kOk;
}

// Creates `dir` (0755) when missing and checks it is ours (a directory
// only we or root can change: common/safe_file.h). A name planted there by
// another user is refused, never followed.
absl::Status EnsureOwnDirectory(const std::string& dir, const std::string& what) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::Status(absl::ErrnoToStatusCode(errno),
                        absl::StrCat("cannot create ", what, " ", dir, ": ", strerror(errno)));
  }
  return CheckTrustedDirectory(dir, what + " " + dir);
}

int Start(const DaemonsConfig& config, const NamedDaemon& daemon) {
  const bool default_state_dir = absl::GetFlag(FLAGS_state_dir).empty();
  struct stat st;
  if (!default_state_dir && stat(config.state_dir.c_str(), &st) != 0) {
    fprintf(stderr, "state directory %s does not exist (create it, or leave out --state-dir)\n",
            config.state_dir.c_str());
    return kError;
  }
  absl::Status dirs = default_state_dir
                          ? EnsureOwnDirectory(config.state_dir, "state directory")
                          : CheckTrustedDirectory(config.state_dir,
                                                  "state directory " + config.state_dir);
  struct stat before;
  const bool created = lstat(daemon.dir.c_str(), &before) != 0;
  if (dirs.ok()) dirs = EnsureOwnDirectory(daemon.dir, "daemon directory");
  if (!dirs.ok()) {
    fprintf(stderr, "cannot start %s: %s\n", daemon.name.c_str(),
            std::string(dirs.message()).c_str());
    return kError;
  }
  // Modules are looked for next to the config file first (the executor
  // and its workers inherit this); a worker pool writes its debug file
  // into the daemon's directory.
  std::string module_path = config.config_dir;
  if (const char* old = getenv("APPKIT_MODULE_PATH"); old && *old) {
    module_path = absl::StrCat(module_path, ":", old);
  }
  setenv("APPKIT_MODULE_PATH", module_path.c_str(), 1);
  setenv("APPKIT_DEBUG_FILE", daemon.debug_filename.c_str(), 1);

  DaemonStartResult result = StartDaemon(daemon.options);
  switch (result.status) {
    case DaemonRunStatus::kLaunched:
      printf("started %s (guardian pid %d); files in %s\n", daemon.name.c_str(), *result.pid,
             daemon.dir.c_str());
      return kOk;
    case DaemonRunStatus::kAlreadyRunning:
      printf("%s is already running (guardian pid %d)\n", daemon.name.c_str(), *result.pid);
      return kOk;
    case DaemonRunStatus::kLaunchFailed:
      fprintf(stderr, "cannot start %s: %s\n", daemon.name.c_str(), result.error.c_str());
      // Bad input leaves nothing behind: a directory made for this start
      // goes again (rmdir: only while StartDaemon left it empty).
      if (created) rmdir(daemon.dir.c_str());
      return kError;
  }
  return kError;
}

int RunOnConfig(const std::vector<std::string>& args) {
  if (args.empty()) {
    return Usage("--config needs a command: list, start, stop, status, workers, debug");
  }
  auto config = LoadDaemonsConfig(absl::GetFlag(FLAGS_config), absl::GetFlag(FLAGS_state_dir));
  if (!config.ok()) {
    fprintf(stderr, "%s\n", std::string(config.status().message()).c_str());
    return kError;
  }
  const std::string& command = args[0];
  if (command == "list") {
    if (args.size() != 1) return Usage("list takes no daemon name");
    return List(*config);
  }
  if (args.size() != 2) return Usage(command + " needs one daemon name");
  const NamedDaemon* daemon = config->Find(args[1]);
  if (daemon == nullptr) {
    std::string known;
    for (const NamedDaemon& d : config->daemons) known += (known.empty() ? "" : ", ") + d.name;
    fprintf(stderr, "no daemon named '%s' in %s (defined: %s)\n",
            internal::EscapeBytes(args[1]).c_str(),
            config->path.c_str(), known.empty() ? "none" : known.c_str());
    return kError;
  }
  if (command == "start") return Start(*config, *daemon);
  Target target{daemon->options.pid_filename, ""};
  const bool json = absl::GetFlag(FLAGS_json);
  if (command == "stop") return Stop(target, absl::GetFlag(FLAGS_timeout));
  if (command == "status") return Status(target, json);
  if (command == "workers") return Workers(target, json);
  if (command == "debug") return Debug(target);
  return Usage("unknown command '" + command + "'");
}

}  // namespace
}  // namespace appkit::ctl

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(appkit::ctl::kUsageText);
  // Under `bazel run` the program runs in its runfiles tree: relative paths
  // (--config, --pid-file, --state-dir, APPKIT_MODULE_PATH) mean the
  // directory bazel was run from, as they would for the installed program.
  if (const char* dir = getenv("BUILD_WORKING_DIRECTORY"); dir && *dir) {
    if (chdir(dir) != 0) {
      fprintf(stderr, "appkitctl: cannot enter BUILD_WORKING_DIRECTORY %s: %s\n", dir,
              strerror(errno));
      return appkit::ctl::kError;
    }
    unsetenv("BUILD_WORKING_DIRECTORY");  // done: not for the daemons started from here
  }
  // The CLI spells flags with dashes (--pid-file); abseil names them with
  // underscores.
  std::vector<std::string> spelled(argv, argv + argc);
  std::vector<char*> argv_fixed;
  bool after_double_dash = false;
  for (std::string& arg : spelled) {
    if (arg == "--") after_double_dash = true;
    if (!after_double_dash && arg.rfind("--", 0) == 0 && arg != "--") {
      size_t end = std::min(arg.find('='), arg.size());
      std::replace(arg.begin() + 2, arg.begin() + end, '-', '_');
    }
    argv_fixed.push_back(arg.data());
  }
  std::vector<char*> positional =
      absl::ParseCommandLine(static_cast<int>(argv_fixed.size()), argv_fixed.data());
  std::vector<std::string> args(positional.begin() + 1, positional.end());
  if (!absl::GetFlag(FLAGS_config).empty()) return appkit::ctl::RunOnConfig(args);
  if (args.empty()) return appkit::ctl::Usage("no command given");
  std::string command = args[0];
  args.erase(args.begin());
  return appkit::ctl::RunOnPidFile(command, args);
}
