#include "common/control_server.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/server_posix.h"
#include "spdlog/spdlog.h"

namespace appkit {

absl::StatusOr<std::unique_ptr<ControlServer>> ControlServer::Listen(
    const std::string& path, std::vector<NamedService> services) {
  absl::Status path_ok = CheckUnixSocketPath(path, "control socket path");
  if (!path_ok.ok()) return path_ok;

  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::AlreadyExistsError(
          absl::StrCat("control socket path ", path, " exists and is not a socket"));
    }
    // A stale socket left by a process that died: the caller owns the path.
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, "cannot remove stale control socket " + path);
    }
  }

  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return ErrnoStatus(errno, "cannot create control socket");
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path.data(), path.size());
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoStatus(errno, "cannot bind control socket " + path);
  }
  // Nobody can connect before listen(), so tightening the mode here leaves
  // no window in which another user could get in.
  if (chmod(path.c_str(), 0600) != 0 || listen(fd.get(), 128) != 0) {
    absl::Status status = ErrnoStatus(errno, "cannot listen on control socket " + path);
    unlink(path.c_str());
    return status;
  }
  return std::unique_ptr<ControlServer>(
      new ControlServer(path, std::move(fd), std::move(services)));
}

ControlServer::ControlServer(std::string path, UniqueFd listen_fd,
                             std::vector<NamedService> services)
    : path_(std::move(path)), listen_fd_(std::move(listen_fd)), services_(std::move(services)) {}

ControlServer::~ControlServer() {
  // Unlink first: from now on no client finds a socket that will not answer.
  unlink(path_.c_str());
  listen_fd_.reset();
  if (server_) {
    // In-flight calls get 100 ms; an idle client connection must not hold
    // up the exit of a stopping supervisor.
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
    server_->Wait();
  }
}

bool ControlServer::StartGrpc() {
  std::vector<std::string> names;
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  for (const NamedService& entry : services_) {
    names.push_back(entry.name);
    builder.RegisterService(entry.service);
  }
  health_ = std::make_unique<HealthService>(names);
  builder.RegisterService(health_.get());
  server_ = builder.BuildAndStart();
  if (!server_) {
    spdlog::error("cannot start the gRPC server for control socket {}", path_);
    return false;
  }
  return true;
}

void ControlServer::AcceptPending() {
  for (;;) {
    int conn = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (conn < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN) spdlog::warn("accept on {} failed: {}", path_, strerror(errno));
      return;
    }
    ucred cred = {};
    socklen_t len = sizeof(cred);
    if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
        (cred.uid != geteuid() && cred.uid != 0)) {
      ++refused_peers_;
      spdlog::warn("refused a control connection on {} from uid {} (pid {}): only uid {} may connect",
                   path_, cred.uid, cred.pid, geteuid());
      close(conn);
      continue;
    }
    if (!server_ && !StartGrpc()) {
      close(conn);
      continue;
    }
    grpc::AddInsecureChannelFromFd(server_.get(), conn);  // takes ownership
  }
}

}  // namespace appkit
