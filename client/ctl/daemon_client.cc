#include "client/ctl/daemon_client.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <chrono>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/errno_status.h"
#include "common/base/safe_file.h"
#include "common/base/status_file.h"
#include "common/base/unique_fd.h"
#include "common/base/unix_socket_path.h"
#include "common/process/pid_file.h"
#include "grpcpp/create_channel_posix.h"
#include "proto/controller.grpc.pb.h"
#include "proto/guardian.grpc.pb.h"
#include "proto/status_file.pb.h"
#include "proto/wire.h"

namespace appkit::ctl {
namespace {

constexpr auto kRpcTimeout = std::chrono::seconds(5);

int Rank(int code) {
  switch (code) {
    case kOk:
      return 0;
    case kNotReady:
      return 1;
    case kNotRunning:
      return 2;
    default:
      return 3;
  }
}

// A channel to `socket`, if the process that listens on it is `pid`.
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
    return absl::PermissionDeniedError(absl::StrCat("socket ", socket, " is served by process ",
                                                    peer.pid, ", not by ", pid, ": refused"));
  }
  return grpc::CreateInsecureChannelFromFd("unix:" + socket, fd.release());
}

// The user `pid` runs as (the owner of /proc/<pid>).
std::optional<uid_t> UserOf(pid_t pid) {
  struct stat st;
  if (stat(absl::StrCat("/proc/", pid).c_str(), &st) != 0) return std::nullopt;
  return st.st_uid;
}

bool IsSocket(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// The workers snapshot of the controller that `status` names.
std::optional<v1::ListWorkersResponse> ReadWorkersSnapshot(const v1::GuardianStatus& status) {
  const pid_t executor = static_cast<pid_t>(status.executor().pid());
  if (!status.executor_running() || executor <= 0) return std::nullopt;
  std::optional<uid_t> owner = UserOf(executor);
  if (!owner) return std::nullopt;
  absl::StatusOr<std::string> content = ReadStatusFile(
      wire::WorkersStatusFileFor(status.controller_socket()), *owner, "workers status file");
  v1::ListWorkersResponse list;
  if (!content.ok() || !list.ParseFromString(*content) || list.controller_pid() != executor) {
    return std::nullopt;
  }
  return list;
}

void SetDeadline(grpc::ClientContext& context) {
  context.set_deadline(std::chrono::system_clock::now() + kRpcTimeout);
}

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> VerifiedChannel(const std::string& socket,
                                                               pid_t pid) {
  return Channel(socket, pid);
}

int Worst(int a, int b) { return Rank(a) >= Rank(b) ? a : b; }

std::string WhyNotRunning(const std::string& pid_filename) {
  struct stat st;
  const std::string dir = DirName(pid_filename);
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::StrCat("directory ", dir, " does not exist; check the --pid-file path");
  }
  if (lstat(pid_filename.c_str(), &st) != 0) return "no pid file";
  return "stale pid file: no live process holds it";
}

Running RunningGuardian(const std::string& pid_filename) {
  absl::StatusOr<PidFile::Holder> holder = PidFile::Inspect(pid_filename, "guardian");
  if (!holder.ok()) return Running{std::nullopt, kError, std::string(holder.status().message())};
  switch (holder->state) {
    case PidFile::Holder::State::kRunning:
      return Running{holder->pid, kOk, ""};
    case PidFile::Holder::State::kForeign:
      return Running{std::nullopt, kError,
                     absl::StrCat("pid file ", pid_filename, " is held by something else: ",
                                  holder->why, "; nothing was signalled")};
    case PidFile::Holder::State::kNone:
      break;
  }
  return Running{std::nullopt, kNotRunning, WhyNotRunning(pid_filename)};
}

std::optional<v1::GuardianStatus> ReadGuardianSnapshot(const std::string& pid_filename,
                                                       const std::string& socket, pid_t pid) {
  std::optional<uid_t> owner = UserOf(pid);
  if (!owner) return std::nullopt;
  absl::StatusOr<std::string> content =
      ReadStatusFile(wire::GuardianStatusFileFor(pid_filename), *owner, "status file");
  v1::GuardianStatusFile file;
  if (!content.ok() || !file.ParseFromString(*content)) return std::nullopt;
  v1::GuardianStatus& status = *file.mutable_status();
  if (status.guardian_pid() != pid || status.control_socket() != socket ||
      status.pid_filename() != pid_filename) {
    return std::nullopt;
  }
  // Still the socket the guardian listens on: anything else there is
  // found out (and reported) by the RPC path's peer check.
  struct stat st;
  if (stat(socket.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode) ||
      st.st_dev != file.control_socket_dev() || st.st_ino != file.control_socket_ino()) {
    return std::nullopt;
  }
  if (!status.controller_socket().empty() && !IsSocket(status.controller_socket())) {
    status.clear_controller_socket();
  }
  return std::move(status);
}

absl::StatusOr<v1::GuardianStatus> GetStatus(const std::string& socket, pid_t pid) {
  auto channel = Channel(socket, pid);
  if (!channel.ok()) return channel.status();
  auto stub = v1::Guardian::NewStub(*channel);
  grpc::ClientContext context;
  SetDeadline(context);
  v1::GuardianStatus status;
  if (absl::Status rpc = FromGrpc(stub->GetStatus(&context, {}, &status)); !rpc.ok()) return rpc;
  return status;
}

absl::Status RequestQuit(const std::string& socket, pid_t pid) {
  // The channel closes when this returns: the guardian's gRPC server need
  // not wait for a client that is only watching it exit.
  auto channel = Channel(socket, pid);
  if (!channel.ok()) return channel.status();
  auto stub = v1::Guardian::NewStub(*channel);
  grpc::ClientContext context;
  SetDeadline(context);
  v1::GuardianRequestQuitResponse response;
  return FromGrpc(stub->RequestQuit(&context, {}, &response));
}

absl::StatusOr<v1::GuardianStatus> RequestRestart(const std::string& socket, pid_t pid) {
  auto channel = Channel(socket, pid);
  if (!channel.ok()) return channel.status();
  auto stub = v1::Guardian::NewStub(*channel);
  grpc::ClientContext context;
  SetDeadline(context);
  v1::GuardianRestartResponse response;
  if (absl::Status rpc = FromGrpc(stub->Restart(&context, {}, &response)); !rpc.ok()) return rpc;
  return response.status();
}

absl::StatusOr<v1::GuardianDebugSnapshot> GetDebugSnapshot(const std::string& socket, pid_t pid) {
  auto channel = Channel(socket, pid);
  if (!channel.ok()) return channel.status();
  auto stub = v1::Guardian::NewStub(*channel);
  grpc::ClientContext context;
  SetDeadline(context);
  v1::GuardianDebugSnapshot snapshot;
  if (absl::Status rpc = FromGrpc(stub->GetDebugSnapshot(&context, {}, &snapshot)); !rpc.ok()) {
    return rpc;
  }
  return snapshot;
}

namespace {

// The Controller service of the daemon's pool, as ListWorkers reaches it.
absl::StatusOr<std::unique_ptr<v1::Controller::Stub>> ControllerOf(
    const v1::GuardianStatus& status) {
  if (status.controller_socket().empty() && status.control_plane_plugin().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "daemon (guardian ", status.guardian_pid(),
        ") serves no worker control socket: the control-plane plugin "
        "libappkit_control_plane.so was not found when it started, so a worker pool runs "
        "without its socket (the daemon's log says so). Install it with the guardian "
        "(bazel run //:install -- PREFIX puts it in PREFIX/lib/appkit) or build the launcher "
        "with //client:appkit, then restart the daemon"));
  }
  if (status.controller_socket().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("daemon (guardian ", status.guardian_pid(),
                     ") runs no worker pool (its entry has not called StartWorkers)"));
  }
  // The pool listens in the executor: that is who must answer.
  auto channel = Channel(status.controller_socket(), static_cast<pid_t>(status.executor().pid()));
  if (!channel.ok()) return channel.status();
  return v1::Controller::NewStub(*channel);
}

}  // namespace

absl::StatusOr<v1::ListWorkersResponse> ListWorkers(const v1::GuardianStatus& status) {
  if (!status.controller_socket().empty()) {
    if (std::optional<v1::ListWorkersResponse> snapshot = ReadWorkersSnapshot(status)) {
      return *std::move(snapshot);
    }
  }
  auto stub = ControllerOf(status);
  if (!stub.ok()) return stub.status();
  grpc::ClientContext context;
  SetDeadline(context);
  v1::ListWorkersResponse list;
  if (absl::Status rpc = FromGrpc((*stub)->ListWorkers(&context, {}, &list)); !rpc.ok()) {
    return rpc;
  }
  return list;
}

absl::StatusOr<v1::WorkerStatus> WorkerVerb(const v1::GuardianStatus& status,
                                            const std::string& verb, const std::string& worker) {
  auto stub = ControllerOf(status);
  if (!stub.ok()) return stub.status();
  grpc::ClientContext context;
  SetDeadline(context);
  v1::WorkerRequest request;
  request.set_worker_name(worker);
  v1::WorkerResponse response;
  grpc::Status rpc;
  if (verb == "start") {
    rpc = (*stub)->StartWorker(&context, request, &response);
  } else if (verb == "restart") {
    rpc = (*stub)->RestartWorker(&context, request, &response);
  } else if (verb == "stop") {
    v1::ControllerRequestQuitRequest quit;
    quit.set_worker_name(worker);
    v1::ControllerRequestQuitResponse answer;
    rpc = (*stub)->RequestQuit(&context, quit, &answer);
    response.mutable_worker()->set_name(worker);
    response.mutable_worker()->set_state(v1::WORKER_STATE_STOPPING);
  } else {  // remove: answered once the worker is gone
    context.set_deadline(std::chrono::system_clock::time_point::max());
    v1::RemoveWorkerResponse answer;
    rpc = (*stub)->RemoveWorker(&context, request, &answer);
    response.mutable_worker()->set_name(worker);
  }
  if (absl::Status s = FromGrpc(rpc); !s.ok()) return s;
  return response.worker();
}

absl::StatusOr<v1::WorkerStatus> AddWorker(const v1::GuardianStatus& status,
                                           const v1::WorkerSpec& spec) {
  auto stub = ControllerOf(status);
  if (!stub.ok()) return stub.status();
  grpc::ClientContext context;
  SetDeadline(context);
  v1::AddWorkerRequest request;
  *request.mutable_spec() = spec;
  v1::WorkerResponse response;
  if (absl::Status s = FromGrpc((*stub)->AddWorker(&context, request, &response)); !s.ok()) {
    return s;
  }
  return response.worker();
}

absl::StatusOr<std::vector<std::string>> RollingRestart(const v1::GuardianStatus& status,
                                                        std::optional<absl::Duration> timeout) {
  auto stub = ControllerOf(status);
  if (!stub.ok()) return stub.status();
  grpc::ClientContext context;
  if (timeout) context.set_deadline(absl::ToChronoTime(absl::Now() + *timeout));
  v1::RollingRestartResponse response;
  if (absl::Status s = FromGrpc((*stub)->RollingRestart(&context, {}, &response)); !s.ok()) {
    return s;
  }
  return std::vector<std::string>(response.restarted().begin(), response.restarted().end());
}

}  // namespace appkit::ctl
