#include "client/ctl/ctl_commands.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/errno_status.h"
#include "common/safe_file.h"
#include "common/unix_socket_path.h"
#include "common/pid_file.h"
#include "common/pidfd.h"
#include "common/time_format.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel_posix.h"
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
  if (lstat(pid_filename.c_str(), &st) != 0) return "no pid file";
  return "stale pid file: no live process holds it";
}

// The verified guardian of a pid file (common/pid_file.h): a pid from a
// file is never used, let alone signalled, before that.
struct Running {
  std::optional<pid_t> pid;  // set when a verified guardian holds the file
  int exit_code = kNotRunning;  // when not: kNotRunning, or kError (said why)
};

Running RunningGuardian(const std::string& pid_filename, bool quiet = false) {
  absl::StatusOr<PidFile::Holder> holder = PidFile::Inspect(pid_filename, "guardian");
  if (!holder.ok()) {
    fprintf(stderr, "%s\n", std::string(holder.status().message()).c_str());
    return Running{std::nullopt, kError};
  }
  switch (holder->state) {
    case PidFile::Holder::State::kRunning:
      return Running{holder->pid, kOk};
    case PidFile::Holder::State::kForeign:
      fprintf(stderr, "pid file %s is held by something else: %s; nothing was signalled\n",
              pid_filename.c_str(), holder->why.c_str());
      return Running{std::nullopt, kError};
    case PidFile::Holder::State::kNone:
      break;
  }
  if (!quiet) {
    fprintf(stderr, "no daemon is running for %s (%s)\n", pid_filename.c_str(),
            WhyNotRunning(pid_filename).c_str());
  }
  return Running{std::nullopt, kNotRunning};
}

// A channel to the socket, if the process that listens on it is `pid`
// (SO_PEERCRED of the connection): a socket taken over by another
// process is never spoken to.
absl::StatusOr<std::shared_ptr<grpc::Channel>> Channel(const std::string& socket, pid_t pid) {
  if (absl::Status path = CheckUnixSocketPath(socket, "control socket"); !path.ok()) return path;
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return ErrnoStatus(errno, "socket");
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, socket.data(), socket.size());
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoStatus(errno, "cannot connect to " + socket);
  }
  ucred peer = {};
  socklen_t len = sizeof(peer);
  if (getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0) {
    return ErrnoStatus(errno, "SO_PEERCRED on " + socket);
  }
  if (peer.pid != pid) {
    return absl::PermissionDeniedError(absl::StrCat(
        "socket ", socket, " is served by process ", peer.pid, ", not by ", pid, ": refused"));
  }
  return grpc::CreateInsecureChannelFromFd("unix:" + socket, fd.release());
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

int Refused(const std::string& socket, pid_t pid, const absl::Status& status) {
  return Refused(socket, pid, grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                           std::string(status.message())));
}

std::optional<v1::GuardianStatus> GetStatus(const std::string& socket, pid_t pid,
                                            grpc::Status* rpc) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Channel(socket, pid);
  if (!channel.ok()) {
    *rpc = grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(channel.status().message()));
    return std::nullopt;
  }
  auto stub = v1::Guardian::NewStub(*channel);
  grpc::ClientContext context;
  SetDeadline(context);
  v1::GuardianStatus status;
  *rpc = stub->GetStatus(&context, {}, &status);
  if (!rpc->ok()) return std::nullopt;
  return status;
}

// The message as JSON; false (and why, on stderr) when it cannot be printed.
bool PrintJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  auto printed = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!printed.ok()) {
    fprintf(stderr, "cannot print %s as JSON: %s\n", message.GetTypeName().c_str(),
            printed.ToString().c_str());
    return false;
  }
  printf("%s", json.c_str());
  return true;
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

bool WaitGone(int pidfd, absl::Duration timeout) {
  return WaitForExit(pidfd, absl::Now() + timeout);
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
  Running running = RunningGuardian(target.pid_filename, json);
  std::optional<pid_t> pid = running.pid;
  if (!pid) {
    if (json && running.exit_code == kNotRunning) {
      nlohmann::json out = {{"running", false},
                            {"pidFilename", target.pid_filename},
                            {"reason", WhyNotRunning(target.pid_filename)}};
      printf("%s\n", out.dump(1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    }
    return running.exit_code;
  }
  grpc::Status rpc;
  std::optional<v1::GuardianStatus> status = GetStatus(target.socket(), *pid, &rpc);
  if (!status) return Refused(target.socket(), *pid, rpc);
  if (json) {
    return PrintJson(*status) ? kOk : kError;
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
  Running running = RunningGuardian(target.pid_filename, /*quiet=*/true);
  if (!running.pid) {
    if (running.exit_code == kError) return kError;
    printf("not running: no daemon for %s (%s)\n", target.pid_filename.c_str(),
           WhyNotRunning(target.pid_filename).c_str());
    return kOk;
  }
  const pid_t pid = *running.pid;
  // Held from before the request: the wait below is for this process,
  // whatever later reuses its pid.
  UniqueFd pidfd = OpenPidfd(pid);
  if (!pidfd) {
    printf("stopped daemon (guardian %d had already exited)\n", pid);
    return kOk;
  }
  grpc::Status rpc;
  {
    // The channel closes at the end of this scope: the guardian's gRPC
    // server need not wait for a client that is only watching it exit.
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Channel(target.socket(), pid);
    if (channel.ok()) {
      auto stub = v1::Guardian::NewStub(*channel);
      grpc::ClientContext context;
      SetDeadline(context);
      v1::GuardianRequestQuitResponse response;
      rpc = stub->RequestQuit(&context, {}, &response);
    } else {
      rpc = grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(channel.status().message()));
    }
  }
  if (!rpc.ok()) {
    // SIGTERM is the same request; sent only to the process the pidfd
    // holds, and only while it still is the verified holder.
    if (!PidFile::StillHeldBy(target.pid_filename, pid, "guardian")) {
      if (HasExited(pidfd.get())) {
        printf("stopped daemon (guardian %d exited meanwhile)\n", pid);
        return kOk;
      }
      fprintf(stderr, "socket %s refused (%s) and guardian %d no longer holds %s; nothing was "
                      "signalled\n",
              target.socket().c_str(), rpc.error_message().c_str(), pid,
              target.pid_filename.c_str());
      return kError;
    }
    fprintf(stderr, "socket %s refused (%s); sending SIGTERM to guardian %d\n",
            target.socket().c_str(), rpc.error_message().c_str(), pid);
    if (SignalPidfd(pidfd.get(), SIGTERM) != 0 && errno != ESRCH) {
      fprintf(stderr, "cannot signal guardian %d: %s\n", pid, strerror(errno));
      return kError;
    }
  }
  absl::Time start = absl::Now();
  if (!WaitGone(pidfd.get(), timeout)) {
    fprintf(stderr, "daemon (guardian %d) still running %s after the quit request\n", pid,
            absl::FormatDuration(timeout).c_str());
    return kError;
  }
  printf("stopped daemon (guardian %d) in %s\n", pid,
         absl::FormatDuration(absl::Trunc(absl::Now() - start, absl::Milliseconds(1))).c_str());
  return kOk;
}

int Workers(const Target& target, bool json) {
  Running running = RunningGuardian(target.pid_filename);
  std::optional<pid_t> pid = running.pid;
  if (!pid) return running.exit_code;
  grpc::Status rpc;
  std::optional<v1::GuardianStatus> status = GetStatus(target.socket(), *pid, &rpc);
  if (!status) return Refused(target.socket(), *pid, rpc);
  if (status->controller_socket().empty() && status->control_plane_plugin().empty()) {
    fprintf(stderr,
            "daemon (guardian %d) serves no worker control socket: the control-plane plugin "
            "libappkit_control_plane.so was not found when it started, so a worker pool runs "
            "without its socket (the daemon's log says so). Install it with the guardian "
            "(bazel run //:install -- PREFIX puts it in PREFIX/lib/appkit) or build the launcher "
            "with //client:appkit, then restart the daemon\n",
            *pid);
    return kError;
  }
  if (status->controller_socket().empty()) {
    fprintf(stderr, "daemon (guardian %d) runs no worker pool (its entry has not called "
                    "StartWorkers)\n", *pid);
    return kError;
  }
  // The pool listens in the executor: that is who must answer.
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      Channel(status->controller_socket(), static_cast<pid_t>(status->executor().pid()));
  if (!channel.ok()) return Refused(status->controller_socket(), *pid, channel.status());
  auto stub = v1::Controller::NewStub(*channel);
  grpc::ClientContext context;
  SetDeadline(context);
  v1::ListWorkersResponse list;
  rpc = stub->ListWorkers(&context, {}, &list);
  if (!rpc.ok()) return Refused(status->controller_socket(), *pid, rpc);
  if (json) {
    return PrintJson(list) ? kOk : kError;
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
  Running running = RunningGuardian(target.pid_filename);
  std::optional<pid_t> pid = running.pid;
  if (!pid) return running.exit_code;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Channel(target.socket(), *pid);
  if (!channel.ok()) return Refused(target.socket(), *pid, channel.status());
  auto stub = v1::Guardian::NewStub(*channel);
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
  absl::StatusOr<PidFile::Holder> holder = PidFile::Inspect(target.pid_filename, "guardian");
  if (!holder.ok() || holder->state == PidFile::Holder::State::kForeign) {
    summary.state = holder.ok() ? "pid file held by something else"
                                : std::string(holder.status().message());
    return summary;
  }
  if (holder->state == PidFile::Holder::State::kNone) return summary;
  const pid_t pid = holder->pid;
  summary.running = true;
  summary.pid = pid;
  summary.state = "running";
  grpc::Status rpc;
  if (std::optional<v1::GuardianStatus> status = GetStatus(target.socket(), pid, &rpc)) {
    summary.state = StateName(status->state(), true);
    summary.uptime = Since(status->guardian_start_time());
    summary.restarts = absl::StrCat(status->restart_count());
  } else {
    summary.state = "running (socket refused)";
  }
  return summary;
}

}  // namespace appkit::ctl
