#include "client/ctl/worker_commands.h"

#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "client/ctl/ctl_commands.h"
#include "client/ctl/ctl_output.h"
#include "common/process/pidfd.h"

namespace appkit::ctl {
namespace {

// What the pool answered, or why the socket could not be reached.
int Failed(const v1::GuardianStatus& status, const absl::Status& error) {
  switch (error.code()) {
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      fprintf(stderr, "%s\n", std::string(error.message()).c_str());
      break;
    default:
      fprintf(stderr, "worker socket %s of guardian %d refused: %s\n",
              status.controller_socket().c_str(), static_cast<int>(status.guardian_pid()),
              std::string(error.message()).c_str());
  }
  return kError;
}

// The pid of `worker`'s running process, 0 when none (or unknown).
pid_t RunningPid(const v1::GuardianStatus& status, const std::string& worker) {
  absl::StatusOr<v1::ListWorkersResponse> list = ListWorkers(status);
  if (!list.ok()) return 0;
  for (const v1::WorkerStatus& w : list->workers()) {
    if (w.name() == worker && w.running()) return static_cast<pid_t>(w.current().pid());
  }
  return 0;
}

// `path` against our directory when relative; "" and the caller's
// stdio names ("/dev/stdout") as they are.
std::string Absolute(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof(cwd)) == nullptr) return path;
  return absl::StrCat(cwd, "/", path);
}

}  // namespace

int AddWorkerCommand(const Target& target, const std::string& worker,
                     const std::vector<std::string>& command, const CtlArgs& args) {
  if (args.worker_pid_file.empty()) {
    fprintf(stderr, "worker add %s needs --worker-pid-file (the worker's pid file)\n",
            worker.c_str());
    return kUsage;
  }
  if (args.entry.empty() == command.empty()) {
    fprintf(stderr,
            "worker add %s needs --entry module:function or a program after `--`, not both\n",
            worker.c_str());
    return kUsage;
  }
  DaemonView view = Inspect(target);
  if (!view.status) return Status(target, false);
  v1::WorkerSpec spec;
  spec.set_name(worker);
  spec.set_entry(args.entry);
  spec.set_pid_filename(Absolute(args.worker_pid_file));
  spec.set_stdout_filename(Absolute(args.stdout_file));
  spec.set_stderr_filename(Absolute(args.stderr_file));
  spec.set_working_directory(Absolute(args.working_directory));
  for (size_t i = 0; i < command.size(); ++i) {
    // A program named by a relative path is found from our directory; a
    // bare name in the pool's PATH.
    spec.add_command(i == 0 && command[0].find('/') != std::string::npos ? Absolute(command[0])
                                                                         : command[i]);
  }
  for (const std::string& pair : args.env) {
    const size_t eq = pair.find('=');
    (*spec.mutable_environment())[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
  absl::StatusOr<v1::WorkerStatus> added = AddWorker(*view.status, spec);
  if (!added.ok()) return Failed(*view.status, added.status());
  if (args.json) {
    OrderedJson out = OrderedJson::object();
    out["worker"] = worker;
    out["result"] = "added";
    out["status"] = ProtoToJson(*added);
    PrintJson(out);
  } else {
    printf("worker %s: added (index %d)\n", worker.c_str(), added->index());
  }
  return kOk;
}

bool IsWorkerVerb(const std::string& verb) {
  return verb == "start" || verb == "restart" || verb == "stop" || verb == "remove";
}

int WorkerCommand(const Target& target, const std::string& verb, const std::string& worker,
                  absl::Duration timeout, bool json) {
  DaemonView view = Inspect(target);
  if (!view.status) return Status(target, false);
  // stop: held from before the request, the wait below is for this process.
  UniqueFd pidfd;
  if (verb == "stop") {
    if (pid_t pid = RunningPid(*view.status, worker); pid > 0) pidfd = OpenPidfd(pid);
  }
  absl::StatusOr<v1::WorkerStatus> answer = WorkerVerb(*view.status, verb, worker);
  if (!answer.ok()) return Failed(*view.status, answer.status());
  std::string done;
  if (verb == "start") {
    done = "started";
  } else if (verb == "restart") {
    done = "restarting";
  } else if (verb == "remove") {
    done = "stopped and removed";
  } else if (!pidfd) {
    done = "not running";
  } else if (WaitForExit(pidfd.get(), absl::Now() + timeout)) {
    done = "stopped";
  } else {
    fprintf(stderr, "worker %s was asked to quit and is still running after %s\n", worker.c_str(),
            absl::FormatDuration(timeout).c_str());
    return kError;
  }
  if (json) {
    OrderedJson out = OrderedJson::object();
    out["worker"] = worker;
    out["result"] = done;
    if (verb == "start" || verb == "restart") out["status"] = ProtoToJson(*answer);
    PrintJson(out);
  } else {
    printf("worker %s: %s\n", worker.c_str(), done.c_str());
  }
  return kOk;
}

int RollingRestartCommand(const Target& target, std::optional<absl::Duration> timeout, bool json) {
  DaemonView view = Inspect(target);
  if (!view.status) return Status(target, false);
  absl::StatusOr<std::vector<std::string>> restarted = RollingRestart(*view.status, timeout);
  if (!restarted.ok()) return Failed(*view.status, restarted.status());
  if (json) {
    OrderedJson out = OrderedJson::object();
    out["restarted"] = *restarted;
    PrintJson(out);
  } else {
    printf("restarted %zu workers, one at a time: %s\n", restarted->size(),
           restarted->empty() ? "-" : absl::StrJoin(*restarted, " ").c_str());
  }
  return kOk;
}

}  // namespace appkit::ctl
