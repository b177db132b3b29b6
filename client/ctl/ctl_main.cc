#include "client/ctl/ctl_main.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/ctl/config_commands.h"
#include "client/ctl/ctl_args.h"
#include "client/ctl/ctl_commands.h"
#include "client/ctl/daemons_config.h"
#include "client/ctl/logs.h"
#include "client/ctl/reload.h"
#include "client/ctl/watch.h"
#include "client/ctl/worker_commands.h"
#include "common/host/option_checks.h"

namespace appkit::ctl {
namespace {

// What a command runs on: one daemon (pid-file form) or a config file.
struct Invocation {
  const CtlArgs& args;
  Target target;                // pid-file form
  const DaemonsConfig* config;  // config form (nullptr in the pid-file form)
};

struct Command {
  const char* name;
  const char* pid_file_form;  // usage line with --pid-file, or nullptr
  const char* config_form;    // usage line with --config, or nullptr
  const char* summary;
  std::set<std::string> options;  // what it takes besides the form's own options
  int (*run)(const Invocation&);
};

int Usage(const std::string& problem) {
  fprintf(stderr, "appkitctl: %s\nRun appkitctl --help for the commands.\n", problem.c_str());
  return kUsage;
}

// The daemons the operands name; `all_by_default`: none named means all.
int WithDaemons(const Invocation& in, bool all_by_default,
                int (*run)(const Invocation&, const std::vector<const NamedDaemon*>&)) {
  const CtlArgs& args = in.args;
  if (args.all && !args.operands.empty()) return Usage(args.command + ": names or --all, not both");
  if (!args.all && args.operands.empty() && !all_by_default) {
    return Usage(args.command + " needs daemon names or --all");
  }
  auto daemons = Select(*in.config, args.operands, args.all || args.operands.empty());
  if (!daemons.ok()) {
    fprintf(stderr, "%s\n", std::string(daemons.status().message()).c_str());
    return kError;
  }
  return run(in, *daemons);
}

// The one daemon a command on one daemon names (or the file's only one).
const NamedDaemon* OneDaemon(const Invocation& in, int* code) {
  const CtlArgs& args = in.args;
  *code = kOk;
  if (args.operands.empty() && in.config->daemons.size() == 1) return &in.config->daemons[0];
  if (args.operands.size() != 1) {
    *code = Usage(args.command + " needs one daemon name");
    return nullptr;
  }
  auto daemons = Select(*in.config, args.operands, false);
  if (!daemons.ok()) {
    fprintf(stderr, "%s\n", std::string(daemons.status().message()).c_str());
    *code = kError;
    return nullptr;
  }
  return (*daemons)[0];
}

int RunStatus(const Invocation& in) {
  if (!in.config) return Status(in.target, in.args.json);
  return WithDaemons(in, true, [](const Invocation& in, const std::vector<const NamedDaemon*>& d) {
    return StatusMany(d, in.args.all || in.args.operands.size() != 1, in.args.json);
  });
}

int RunStart(const Invocation& in) {
  return WithDaemons(in, false, [](const Invocation& in, const std::vector<const NamedDaemon*>& d) {
    return StartMany(*in.config, d);
  });
}

int RunRun(const Invocation& in) {
  int code = kOk;
  const NamedDaemon* daemon = OneDaemon(in, &code);
  return daemon ? RunOne(*in.config, *daemon) : code;
}

int RunStop(const Invocation& in) {
  if (!in.config) return Stop(in.target, in.args.timeout);
  return WithDaemons(in, false, [](const Invocation& in, const std::vector<const NamedDaemon*>& d) {
    return StopMany(d, in.args.timeout);
  });
}

int RunRestart(const Invocation& in) {
  if (!in.config) return Restart(in.target);
  return WithDaemons(in, false, [](const Invocation& in, const std::vector<const NamedDaemon*>& d) {
    return RestartMany(*in.config, d, in.args.timeout);
  });
}

int RunWorkers(const Invocation& in) {
  if (!in.config) return Workers(in.target, in.args.json);
  int code = kOk;
  const NamedDaemon* daemon = OneDaemon(in, &code);
  return daemon ? Workers(Target{daemon->files.pid, ""}, in.args.json) : code;
}

int RunDebug(const Invocation& in) {
  if (!in.config) return Debug(in.target);
  int code = kOk;
  const NamedDaemon* daemon = OneDaemon(in, &code);
  return daemon ? Debug(Target{daemon->files.pid, ""}) : code;
}

int RunWatch(const Invocation& in) {
  if (!in.config) return Watch(in.target, in.args.json, in.args.workers);
  int code = kOk;
  const NamedDaemon* daemon = OneDaemon(in, &code);
  return daemon ? Watch(Target{daemon->files.pid, ""}, in.args.json, in.args.workers) : code;
}

int RunList(const Invocation& in) {
  if (!in.args.operands.empty()) return Usage("list takes no daemon name");
  return List(*in.config, in.args.json);
}

int RunLogs(const Invocation& in) {
  int code = kOk;
  const NamedDaemon* daemon = OneDaemon(in, &code);
  return daemon ? Logs(*daemon, in.args) : code;
}

int RunReload(const Invocation& in) {
  if (!in.args.operands.empty()) return Usage("reload takes no daemon name");
  return Reload(*in.config, in.args.timeout);
}

// worker add [NAME] WORKER [-- PROGRAM ARG...]: the pid-file form names
// no daemon.
int RunWorkerAdd(const Invocation& in) {
  const std::vector<std::string>& ops = in.args.operands;
  const size_t worker = in.config ? 2 : 1;  // ops[worker]: its name
  if (ops.size() <= worker) {
    return Usage(in.config ? "worker add needs a daemon name and a worker name"
                           : "worker add needs a worker name");
  }
  const std::vector<std::string> command(ops.begin() + worker + 1, ops.end());
  if (!in.config) return AddWorkerCommand(in.target, ops[worker], command, in.args);
  auto daemons = Select(*in.config, {ops[1]}, false);
  if (!daemons.ok()) {
    fprintf(stderr, "%s\n", std::string(daemons.status().message()).c_str());
    return kError;
  }
  return AddWorkerCommand(Target{(*daemons)[0]->files.pid, ""}, ops[worker], command, in.args);
}

// worker VERB [NAME] WORKER: the pid-file form names no daemon.
int RunWorker(const Invocation& in) {
  const std::vector<std::string>& ops = in.args.operands;
  if (!ops.empty() && ops[0] == "add") return RunWorkerAdd(in);
  if (ops.empty() || !IsWorkerVerb(ops[0])) {
    return Usage(
        "worker needs a verb: start, restart, stop or remove, then the worker's name (or add, "
        "then the new worker's name and what it runs)");
  }
  const std::string& verb = ops[0];
  for (const char* option : kWorkerAddOptions) {
    if (in.args.given.count(option)) {
      return Usage(absl::StrCat("--", option, " goes with worker add, not worker ", verb));
    }
  }
  if (!in.config) {
    if (ops.size() != 2) return Usage("worker " + verb + " needs one worker name");
    return WorkerCommand(in.target, verb, ops[1], in.args.timeout, in.args.json);
  }
  if (ops.size() != 3) return Usage("worker " + verb + " needs a daemon name and a worker name");
  auto daemons = Select(*in.config, {ops[1]}, false);
  if (!daemons.ok()) {
    fprintf(stderr, "%s\n", std::string(daemons.status().message()).c_str());
    return kError;
  }
  return WorkerCommand(Target{(*daemons)[0]->files.pid, ""}, verb, ops[2], in.args.timeout,
                       in.args.json);
}

int RunRollingRestart(const Invocation& in) {
  std::optional<absl::Duration> timeout;
  if (in.args.given.count("timeout")) timeout = in.args.timeout;
  if (!in.config) return RollingRestartCommand(in.target, timeout, in.args.json);
  int code = kOk;
  const NamedDaemon* daemon = OneDaemon(in, &code);
  return daemon ? RollingRestartCommand(Target{daemon->files.pid, ""}, timeout, in.args.json)
                : code;
}

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = {
      {"status",
       "status --pid-file F [--json]",
       "status [NAME...|--all] [--json]",
       "is it running? (exit 0 running and ready, 3 not running, 4 running but not ready; "
       "several: the worst)",
       {"json", "all"},
       RunStatus},
      {"start",
       nullptr,
       "start NAME...|--all",
       "start daemons (a running one: says so, exit 0)",
       {"all"},
       RunStart},
      {"run",
       nullptr,
       "run [NAME]",
       "run it in the foreground (a container's PID 1, a systemd Type=notify service) until it "
       "ends; exits with its entry's status (128+N for signal N)",
       {},
       RunRun},
      {"stop",
       "stop --pid-file F [--timeout 10s]",
       "stop NAME...|--all [--timeout 10s]",
       "ask to quit and wait until gone (not running: says so, exit 0)",
       {"all", "timeout"},
       RunStop},
      {"restart",
       "restart --pid-file F",
       "restart NAME...|--all [--timeout 10s]",
       "restart the executor in the running guardian (leaves FATAL; a stopped one is started)",
       {"all", "timeout"},
       RunRestart},
      {"workers",
       "workers --pid-file F [--json]",
       "workers [NAME] [--json]",
       "the daemon's worker pool",
       {"json"},
       RunWorkers},
      {"worker",
       "worker start|restart|stop|remove WORKER --pid-file F [--json]\n"
       "  appkitctl worker add WORKER --pid-file F --worker-pid-file W (--entry E | -- PROGRAM "
       "ARG...)",
       "worker start|restart|stop|remove NAME WORKER [--json]\n"
       "  appkitctl worker add NAME WORKER --worker-pid-file W (--entry E | -- PROGRAM ARG...) "
       "[--env K=V]... [--working-directory D] [--stdout-file F] [--stderr-file F]",
       "one worker of the pool: start it, restart it gracefully, stop it (waits, --timeout), "
       "or stop and forget it; add: a new worker, checked as StartWorkers checks one",
       {"json", "timeout", "entry", "env", "working-directory", "worker-pid-file", "stdout-file",
        "stderr-file"},
       RunWorker},
      {"rolling-restart",
       "rolling-restart --pid-file F [--timeout T] [--json]",
       "rolling-restart [NAME] [--timeout T] [--json]",
       "restart the running workers one at a time, each once the previous one's replacement "
       "runs",
       {"json", "timeout"},
       RunRollingRestart},
      {"debug",
       "debug --pid-file F",
       "debug [NAME]",
       "the debug snapshot (debug-file JSON)",
       {"json"},
       RunDebug},
      {"watch",
       "watch --pid-file F [--workers] [--json]",
       "watch [NAME] [--workers] [--json]",
       "follow its events, one line each (--workers: its pool's too) until it stops or ^C",
       {"json", "workers"},
       RunWatch},
      {"list",
       nullptr,
       "list [--json]",
       "every daemon of the file and its state",
       {"json"},
       RunList},
      {"logs",
       nullptr,
       "logs [NAME] [--worker W] [--stdout|--stderr] [-n N] [-f]",
       "the last lines of its log (or stdout, stderr; a worker's stderr or stdout); -f follows",
       {"worker", "stdout", "stderr", "lines", "follow"},
       RunLogs},
      {"reload",
       nullptr,
       "reload [--timeout 10s]",
       "apply a changed file: start added daemons, stop removed ones, restart changed ones",
       {"timeout"},
       RunReload},
  };
  return commands;
}

void PrintHelp() {
  std::string text =
      "appkitctl: look at, start, stop and follow appkit daemons.\n\n"
      "One daemon, by its pid file:\n";
  auto line = [&](const char* form, const char* summary) {
    std::string left = absl::StrCat("  appkitctl ", form);
    absl::StrAppend(&text, left, "\n      ", summary, "\n");
  };
  for (const Command& command : Commands()) {
    if (command.pid_file_form) line(command.pid_file_form, command.summary);
  }
  absl::StrAppend(&text,
                  "\nThe daemons of a daemons.yaml (a mordor file works unchanged), "
                  "with --config F\n[--state-dir DIR | --layout mordor] [--app NAME]; "
                  "without --config or --pid-file,\n./daemons.yaml when there is one:\n");
  for (const Command& command : Commands()) {
    if (command.config_form) line(command.config_form, command.summary);
  }
  absl::StrAppend(&text, "\nOptions (anywhere on the line):\n", OptionsHelp(),
                  "\nExit codes: 0 success (status: running), 1 error, 2 usage, 3 not running "
                  "(status, workers,\ndebug, logs).\n");
  fwrite(text.data(), 1, text.size(), stdout);
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

int Dispatch(const CtlArgs& args) {
  if (args.help || args.command == "help") {
    PrintHelp();
    return kOk;
  }
  if (args.command.empty()) return Usage("no command given");
  const Command* command = nullptr;
  for (const Command& c : Commands()) {
    if (args.command == c.name) command = &c;
  }
  if (command == nullptr) {
    return Usage("unknown command '" + internal::EscapeBytes(args.command) + "'");
  }
  // The form: --pid-file, --config, or ./daemons.yaml.
  const bool pid_form = !args.pid_file.empty() || !args.socket.empty();
  std::string config_path = args.config;
  if (pid_form && !config_path.empty()) {
    return Usage("--pid-file and --config do not go together");
  }
  if (!pid_form && config_path.empty() && Exists("daemons.yaml")) config_path = "daemons.yaml";
  if (pid_form && command->pid_file_form == nullptr) {
    return Usage(absl::StrCat(command->name, " works on a daemons.yaml: appkitctl --config F ",
                              command->config_form));
  }
  if (!pid_form && config_path.empty()) {
    return Usage(absl::StrCat(command->name, " needs ",
                              command->pid_file_form ? "--pid-file F or " : "",
                              "--config daemons.yaml (there is no daemons.yaml here)"));
  }
  std::set<std::string> allowed = command->options;
  for (const char* option :
       pid_form ? std::vector<const char*>{"pid-file", "socket"}
                : std::vector<const char*>{"config", "state-dir", "layout", "app"}) {
    allowed.insert(option);
  }
  for (const std::string& option : args.given) {
    if (allowed.count(option) == 0) {
      return Usage(absl::StrCat("--", option, " does not go with ", command->name,
                                pid_form ? " --pid-file" : " on a daemons.yaml"));
    }
  }
  if (pid_form) {
    if (args.pid_file.empty()) return Usage(absl::StrCat(command->name, " needs --pid-file"));
    if (!args.operands.empty() && args.command != "worker") {
      return Usage("unexpected argument '" + internal::EscapeBytes(args.operands[0]) + "'");
    }
    return command->run(Invocation{args, Target{args.pid_file, args.socket}, nullptr});
  }
  LayoutOptions layout;
  layout.layout = args.layout;
  layout.state_dir = args.state_dir;
  layout.app = args.app;
  if (const char* env_home = getenv("ENV_HOME")) layout.env_home = env_home;
  auto config = LoadDaemonsConfig(config_path, layout);
  if (!config.ok()) {
    fprintf(stderr, "%s\n", std::string(config.status().message()).c_str());
    return kError;
  }
  return command->run(Invocation{args, Target{}, &*config});
}

}  // namespace

int CtlMain(int argc, char** argv) {
  // Under `bazel run` the program runs in its runfiles tree: relative paths
  // (--config, --pid-file, --state-dir, APPKIT_MODULE_PATH) mean the
  // directory bazel was run from, as they would for the installed program.
  if (const char* dir = getenv("BUILD_WORKING_DIRECTORY"); dir && *dir) {
    if (chdir(dir) != 0) {
      fprintf(stderr, "appkitctl: cannot enter BUILD_WORKING_DIRECTORY %s: %s\n", dir,
              strerror(errno));
      return kError;
    }
    unsetenv("BUILD_WORKING_DIRECTORY");  // done: not for the daemons started from here
  }
  auto args = ParseCtlArgs(std::vector<std::string>(argv + 1, argv + argc));
  if (!args.ok()) return Usage(std::string(args.status().message()));
  return Dispatch(*args);
}

}  // namespace appkit::ctl
