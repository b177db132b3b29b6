#include "client/ctl/ctl_commands.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/fd_io.h"
#include "common/pid_file.h"
#include "common/pidfd.h"
#include "common/time_format.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "nlohmann/json.hpp"
#include "proto/controller.grpc.pb.h"
#include "proto/guardian.grpc.pb.h"

namespace appkit::ctl {
namespace {

constexpr auto kRpcTimeout = std::chrono::seconds(5);

// Why nobody runs for `pid_filename`, in words.
std::string WhyNotRunning(const std::string& pid_filename) {
  struct stat st;
  const std::string dir = DirName(pid_filename);
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::StrCat("directory ", dir, " does not exist; check the --pid-file path");
  }
  if (stat(pid_filename.c_str(), &st) != 0) return "no pid file";
  return "stale pid file: no live process holds it";
}

// The guardian holding the pid file, or nullopt after telling why not.
std::optional<pid_t> RunningGuardian(const std::string& pid_filename, bool quiet = false) {
  std::optional<pid_t> pid = PidFile::Owner(pid_filename);
  if (!pid && !quiet) {
    fprintf(stderr, "no daemon is running for %s (%s)\n", pid_filename.c_str(),
            WhyNotRunning(pid_filename).c_str());
  }
  return pid;
}

std::shared_ptr<grpc::Channel> Channel(const std::string& socket) {
  return grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials());
}

void SetDeadline(grpc::ClientContext& context) {
  context.set_deadline(std::chrono::system_clock::now() + kRpcTimeout);
}

int Refused(const std::string& socket, pid_t pid, const grpc::Status& status) {
  fprintf(stderr,
          "socket %s refused: %s (guardian %d holds the pid file; pass --socket if the daemon "
          "uses another control socket)\n",
          socket.c_str(), status.error_message().c_str(), pid);
  return kError;
}

std::optional<v1::GuardianStatus> GetStatus(const std::string& socket, grpc::Status* rpc) {
  auto stub = v1::Guardian::NewStub(Channel(socket));
  grpc::ClientContext context;
  SetDeadline(context);
  v1::GuardianStatus status;
  *rpc = stub->GetStatus(&context, {}, &status);
  if (!rpc->ok()) return std::nullopt;
  return status;
}

std::string Json(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

std::string Since(const google::protobuf::Timestamp& start) {
  if (start.seconds() == 0 && start.nanos() == 0) return "-";
  absl::Duration up = absl::Now() - FromProtoTime(start);
  return absl::FormatDuration(absl::Trunc(up, up < absl::Minutes(1) ? absl::Milliseconds(100)
                                                                   : absl::Seconds(1)));
}

std::string StateName(int state, bool guardian) {
  std::string name = guardian ? v1::GuardianState_Name(static_cast<v1::GuardianState>(state))
                              : v1::WorkerState_Name(static_cast<v1::WorkerState>(state));
  std::string prefix = guardian ? "GUARDIAN_STATE_" : "WORKER_STATE_";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

bool WaitGone(pid_t pid, absl::Duration timeout) {
  UniqueFd pidfd = OpenPidfd(pid);
  if (!pidfd) return errno == ESRCH;
  return WaitForExit(pidfd.get(), absl::Now() + timeout);
}

}  // namespace

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    printf("%s\n", line.c_str());
  }
}

int Status(const Target& target, bool json) {
  std::optional<pid_t> pid = RunningGuardian(target.pid_filename, json);
  if (!pid) {
    if (json) {
      nlohmann::json out = {{"running", false},
                            {"pidFilename", target.pid_filename},
                            {"reason", WhyNotRunning(target.pid_filename)}};
      printf("%s\n", out.dump(1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    }
    return kNotRunning;
  }
  grpc::Status rpc;
  std::optional<v1::GuardianStatus> status = GetStatus(target.socket(), &rpc);
  if (!status) return Refused(target.socket(), *pid, rpc);
  if (json) {
    printf("%s", Json(*status).c_str());
    return kOk;
  }
  const v1::ProcessRun& executor = status->executor();
  std::vector<std::vector<std::string>> rows = {
      {"daemon", absl::StrCat("running, ", StateName(status->state(), true))},
      {"guardian", absl::StrCat("pid ", status->guardian_pid(), ", up ",
                                Since(status->guardian_start_time()))},
      {"entry", status->daemon_entry()},
      {"executor", status->executor_running()
                       ? absl::StrCat("pid ", executor.pid(), ", up ", Since(executor.start_time()))
                       : absl::StrCat("not running (last: ", executor.description(), ")")},
      {"restarts", absl::StrCat(status->restart_count())},
  };
  if (status->history_size() > 0) {
    const v1::ProcessRun& last = status->history(status->history_size() - 1);
    rows.push_back({"last exit", absl::StrCat("pid ", last.pid(), " ", last.description(), " at ",
                                              ::appkit::FormatTime(FromProtoTime(last.end_time())))});
  }
  if (status->has_restart_at()) {
    rows.push_back({"restart at", ::appkit::FormatTime(FromProtoTime(status->restart_at()))});
  }
  rows.push_back({"pid file", status->pid_filename()});
  rows.push_back({"socket", status->control_socket()});
  if (!status->controller_socket().empty()) {
    rows.push_back({"workers", status->controller_socket()});
  }
  PrintTable(rows);
  return kOk;
}

int Stop(const Target& target, absl::Duration timeout) {
  std::optional<pid_t> pid = PidFile::Owner(target.pid_filename);
  if (!pid) {
    printf("not running: no daemon for %s (%s)\n", target.pid_filename.c_str(),
           WhyNotRunning(target.pid_filename).c_str());
    return kOk;
  }
  grpc::Status rpc;
  {
    // The channel closes at the end of this scope: the guardian's gRPC
    // server need not wait for a client that is only watching it exit.
    auto stub = v1::Guardian::NewStub(Channel(target.socket()));
    grpc::ClientContext context;
    SetDeadline(context);
    v1::GuardianRequestQuitResponse response;
    rpc = stub->RequestQuit(&context, {}, &response);
  }
  if (!rpc.ok()) {
    // The pid is the live holder of the pid-file lock: SIGTERM is the
    // same request.
    fprintf(stderr, "socket %s refused (%s); sending SIGTERM to guardian %d\n",
            target.socket().c_str(), rpc.error_message().c_str(), *pid);
    if (kill(*pid, SIGTERM) != 0) {
      fprintf(stderr, "cannot signal guardian %d: %s\n", *pid, strerror(errno));
      return kError;
    }
  }
  absl::Time start = absl::Now();
  if (!WaitGone(*pid, timeout)) {
    fprintf(stderr, "daemon (guardian %d) still running %s after the quit request\n", *pid,
            absl::FormatDuration(timeout).c_str());
    return kError;
  }
  printf("stopped daemon (guardian %d) in %s\n", *pid,
         absl::FormatDuration(absl::Trunc(absl::Now() - start, absl::Milliseconds(1))).c_str());
  return kOk;
}

int Workers(const Target& target, bool json) {
  std::optional<pid_t> pid = RunningGuardian(target.pid_filename);
  if (!pid) return kNotRunning;
  grpc::Status rpc;
  std::optional<v1::GuardianStatus> status = GetStatus(target.socket(), &rpc);
  if (!status) return Refused(target.socket(), *pid, rpc);
  if (status->controller_socket().empty()) {
    fprintf(stderr, "daemon (guardian %d) runs no worker pool (its entry has not called "
                    "StartWorkers)\n", *pid);
    return kError;
  }
  auto stub = v1::Controller::NewStub(Channel(status->controller_socket()));
  grpc::ClientContext context;
  SetDeadline(context);
  v1::ListWorkersResponse list;
  rpc = stub->ListWorkers(&context, {}, &list);
  if (!rpc.ok()) return Refused(status->controller_socket(), *pid, rpc);
  if (json) {
    printf("%s", Json(list).c_str());
    return kOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "STATE", "PID", "UPTIME", "RESTARTS", "LAST EXIT", "ENTRY"}};
  for (const v1::WorkerStatus& worker : list.workers()) {
    std::string last = "-";
    if (worker.history_size() > 0) last = worker.history(worker.history_size() - 1).description();
    rows.push_back({worker.name(), StateName(worker.state(), false),
                    worker.running() ? absl::StrCat(worker.current().pid()) : "-",
                    worker.running() ? Since(worker.current().start_time()) : "-",
                    absl::StrCat(worker.restart_count()), last, worker.entry()});
  }
  PrintTable(rows);
  return kOk;
}

int Debug(const Target& target) {
  std::optional<pid_t> pid = RunningGuardian(target.pid_filename);
  if (!pid) return kNotRunning;
  auto stub = v1::Guardian::NewStub(Channel(target.socket()));
  grpc::ClientContext context;
  SetDeadline(context);
  v1::GuardianDebugSnapshot snapshot;
  grpc::Status rpc = stub->GetDebugSnapshot(&context, {}, &snapshot);
  if (!rpc.ok()) return Refused(target.socket(), *pid, rpc);
  printf("%s", snapshot.workers().json().c_str());
  return kOk;
}

Summary Summarize(const Target& target) {
  Summary summary;
  summary.state = "stopped";
  summary.uptime = "-";
  summary.restarts = "-";
  std::optional<pid_t> pid = PidFile::Owner(target.pid_filename);
  if (!pid) return summary;
  summary.running = true;
  summary.pid = *pid;
  summary.state = "running";
  grpc::Status rpc;
  if (std::optional<v1::GuardianStatus> status = GetStatus(target.socket(), &rpc)) {
    summary.state = StateName(status->state(), true);
    summary.uptime = Since(status->guardian_start_time());
    summary.restarts = absl::StrCat(status->restart_count());
  } else {
    summary.state = "running (socket refused)";
  }
  return summary;
}

}  // namespace appkit::ctl
