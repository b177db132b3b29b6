#include "common/control/control_server.h"
#include "common/base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/base/errno_status.h"
#include "common/base/socket_probe.h"
#include "common/base/unix_listener.h"
#include "common/control/reflection_service.h"
#include "grpc/grpc.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/server_posix.h"
#include "grpcpp/support/server_interceptor.h"
#include "spdlog/spdlog.h"

namespace appkit {

struct ControlServer::Grpc {
  std::unique_ptr<HealthService> health;
  std::unique_ptr<ReflectionService> reflection;
  std::unique_ptr<grpc::Server> server;  // destroyed first
};

// The connections handed to gRPC: the loop thread adds them; gRPC's
// threads count the calls open on each (a call's peer is "fd:<n>") and cut
// a connection that holds too many, which only a client ignoring the
// HTTP/2 stream limit can do. A connection is known by its fd and its
// socket's inode: gRPC closes the fd when done, and the number may then
// name another file. Outlives the ControlServer if gRPC does.
class ControlServer::Connections {
 public:
  Connections(std::string path, int cut_at) : path_(std::move(path)), cut_at_(cut_at) {}

  int size() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(open_.size());
  }
  int cut() const {
    absl::MutexLock lock(&mu_);
    return cut_;
  }

  // Forgets the connections gRPC has closed; true if fewer than `max` remain.
  bool Prune(int max) {
    absl::MutexLock lock(&mu_);
    if (static_cast<int>(open_.size()) < max) return true;
    for (auto it = open_.begin(); it != open_.end();) {
      it = IsOpen(it->first, it->second.ino) ? std::next(it) : open_.erase(it);
    }
    return static_cast<int>(open_.size()) < max;
  }

  void Add(int fd) {
    struct stat st = {};
    fstat(fd, &st);
    absl::MutexLock lock(&mu_);
    open_[fd] = Connection{st.st_ino, 0};  // an old entry with this fd is gone
  }

  void CallStarted(int fd) {
    absl::MutexLock lock(&mu_);
    auto it = open_.find(fd);
    if (it == open_.end() || ++it->second.calls <= cut_at_ || it->second.cut) return;
    if (!IsOpen(fd, it->second.ino)) return;
    // Cut it: gRPC sees the connection end, and cancels its calls.
    shutdown(fd, SHUT_RDWR);
    it->second.cut = true;
    ++cut_;
    if (auto quiet = cut_log_.Allow(0)) {
      Log().warn(
          "cut a control connection on {}: it holds more than {} calls at once ({} more "
          "cut since the last line; said once a minute)",
          path_, cut_at_, *quiet);
    }
  }

  void CallEnded(int fd) {
    absl::MutexLock lock(&mu_);
    auto it = open_.find(fd);
    if (it != open_.end() && it->second.calls > 0) --it->second.calls;
  }

 private:
  struct Connection {
    ino_t ino;
    int calls;
    bool cut = false;
  };
  static bool IsOpen(int fd, ino_t ino) {
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == ino;
  }

  const std::string path_;
  const int cut_at_;
  mutable absl::Mutex mu_;
  std::map<int, Connection> open_ ABSL_GUARDED_BY(mu_);
  int cut_ ABSL_GUARDED_BY(mu_) = 0;
  LogLimiter cut_log_ ABSL_GUARDED_BY(mu_);
};

namespace {

// Counts each call on its connection (see ControlServer::Connections).
class CallCounter final : public grpc::experimental::Interceptor {
 public:
  CallCounter(std::shared_ptr<ControlServer::Connections> connections, int fd)
      : connections_(std::move(connections)), fd_(fd) {
    connections_->CallStarted(fd_);
  }
  ~CallCounter() override { connections_->CallEnded(fd_); }
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    methods->Proceed();
  }

 private:
  const std::shared_ptr<ControlServer::Connections> connections_;
  const int fd_;
};

class CallCounterFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CallCounterFactory(std::shared_ptr<ControlServer::Connections> connections)
      : connections_(std::move(connections)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    // The peer of a connection added with AddInsecureChannelFromFd.
    std::string peer = info->server_context()->peer();
    absl::string_view number = peer;
    int fd;
    if (!absl::ConsumePrefix(&number, "fd:") || !absl::SimpleAtoi(number, &fd)) return nullptr;
    return new CallCounter(connections_, fd);
  }

 private:
  const std::shared_ptr<ControlServer::Connections> connections_;
};

// Threads gRPC creates when the server starts and serves its first calls
// (timers, executors, event engine, the two callback threads): 8 here,
// and a few more under load. A server with a sync method would also start
// a sync thread pool, and gRPC 1.51 aborts the process when it cannot
// create that pool's first thread (ThreadManager::Initialize:
// GPR_ASSERT(worker->created())): this server has none. gRPC's other
// threads fail silently: a server started without them would take calls
// and never run a handler. So gRPC is started only once this many threads
// could be created at once (RLIMIT_NPROC, a cgroup's pids.max); until
// then each connection is refused.
constexpr int kThreadsAtStart = 16;

// 0 when `count` threads could run at once, else the errno that stopped
// the creation of one.
int TryThreads(int count) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return errno;
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  std::vector<pthread_t> threads;
  int error = 0;
  for (int i = 0; i < count; ++i) {
    pthread_t thread;
    error = pthread_create(
        &thread, &attr,
        [](void* fd) -> void* {
          char byte;
          (void)!read(static_cast<int>(reinterpret_cast<intptr_t>(fd)), &byte, 1);  // EOF
          return nullptr;
        },
        reinterpret_cast<void*>(static_cast<intptr_t>(read_end.get())));
    if (error != 0) break;
    threads.push_back(thread);
  }
  pthread_attr_destroy(&attr);
  write_end.reset();  // every thread reads EOF and ends
  for (pthread_t thread : threads) pthread_join(thread, nullptr);
  return error;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ControlServer>> ControlServer::Listen(
    const std::string& path, std::vector<NamedService> services) {
  return Listen(path, std::move(services), Limits());
}

absl::StatusOr<std::unique_ptr<ControlServer>> ControlServer::Listen(
    const std::string& path, std::vector<NamedService> services, Limits limits) {
  absl::StatusOr<UnixListener> listener = ListenUnixSocket(path);
  if (!listener.ok()) return listener.status();
  return Serve(path, std::move(*listener), std::move(services), limits);
}

std::unique_ptr<ControlServer> ControlServer::Serve(const std::string& path, UnixListener listener,
                                                    std::vector<NamedService> services) {
  return Serve(path, std::move(listener), std::move(services), Limits());
}

std::unique_ptr<ControlServer> ControlServer::Serve(const std::string& path, UnixListener listener,
                                                    std::vector<NamedService> services,
                                                    Limits limits) {
  return std::unique_ptr<ControlServer>(new ControlServer(
      path, std::move(listener.fd), listener.dev, listener.ino, std::move(services), limits));
}

ControlServer::ControlServer(std::string path, UniqueFd listen_fd, dev_t dev, ino_t ino,
                             std::vector<NamedService> services, Limits limits)
    : path_(std::move(path)),
      listen_fd_(std::move(listen_fd)),
      dev_(dev),
      ino_(ino),
      services_(std::move(services)),
      limits_(limits),
      connections_(std::make_shared<Connections>(path_, limits.cut_connection_at_calls)) {}

int ControlServer::cut_connections() const { return connections_->cut(); }

ControlServer::~ControlServer() { Stop(); }

bool ControlServer::Stop(absl::Duration grace, absl::Duration limit) {
  if (stopped_) return stopped_cleanly_;
  stopped_ = true;
  // Unlink first: from now on no client finds a socket that will not
  // answer. Only our own file: a socket someone put there since is theirs.
  struct stat st;
  if (lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
    unlink(path_.c_str());
  }
  listen_fd_.reset();
  if (!grpc_) return true;

  // In-flight calls get `grace`; an idle client connection or a stalled
  // stream must not hold up the exit of a stopping supervisor, and nothing
  // gRPC does at teardown may hang it: the teardown runs on its own thread.
  auto done = std::make_shared<absl::Notification>();
  std::shared_ptr<Grpc> grpc = std::move(grpc_);
  const auto deadline = std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace);
  std::thread teardown;
  try {
    teardown = std::thread([grpc, done, deadline]() mutable {
      grpc->server->Shutdown(deadline);
      grpc->server->Wait();
      grpc->server.reset();
      grpc->health.reset();
      grpc->reflection.reset();
      done->Notify();
    });
  } catch (const std::system_error& e) {
    Log().error("control socket {}: cannot start a thread to stop gRPC ({}); leaving it running",
                path_, e.what());
    (void)new std::shared_ptr<Grpc>(std::move(grpc));  // leaked on purpose: gRPC may use it
    stopped_cleanly_ = false;
    return false;
  }
  if (done->WaitForNotificationWithTimeout(limit)) {
    teardown.join();
    return true;
  }
  Log().error("control socket {}: gRPC did not stop within {}; leaving it behind", path_,
              absl::FormatDuration(limit));
  teardown.detach();  // it owns `grpc`
  stopped_cleanly_ = false;
  return false;
}

bool ControlServer::StartGrpc() {
  if (int error = TryThreads(kThreadsAtStart); error != 0) {
    if (auto quiet = start_log_.Allow(0)) {
      Log().error(
          "cannot start the gRPC server for control socket {}: cannot create {} "
          "threads: {} (RLIMIT_NPROC?); refusing connections until it can ({} more "
          "refused since the last line)",
          path_, kThreadsAtStart, strerror(error), *quiet);
    }
    return false;
  }
  std::vector<std::string> names;
  grpc::ServerBuilder builder;
  for (const NamedService& entry : services_) {
    names.push_back(entry.name);
    builder.RegisterService(entry.service);
  }
  auto grpc = std::make_shared<Grpc>();
  grpc->health = std::make_unique<HealthService>(names, health_);
  builder.RegisterService(grpc->health.get());
  names.push_back("grpc.health.v1.Health");
  grpc->reflection = std::make_unique<ReflectionService>(names);
  builder.RegisterCallbackGenericService(grpc->reflection.get());

  // Bounds (see Limits). Threads: no sync method, so no sync thread pool;
  // should a sync service be registered all the same, its pool is one
  // queue with one poller (the quota must cover a poller per queue, or
  // gRPC aborts) and the quota caps it.
  grpc::ResourceQuota quota("appkit-control:" + path_);
  quota.SetMaxThreads(limits_.max_sync_threads);
  quota.Resize(limits_.max_memory_bytes);
  builder.SetResourceQuota(quota);
  builder.SetSyncServerOption(grpc::ServerBuilder::NUM_CQS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::MIN_POLLERS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::MAX_POLLERS, 1);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, limits_.max_streams_per_connection);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> counters;
  counters.push_back(std::make_unique<CallCounterFactory>(connections_));
  builder.experimental().SetInterceptorCreators(std::move(counters));
  // Requests: rejected beyond the limit; and no buffering ahead of what a
  // stream may use (no bandwidth probing that widens the windows).
  builder.SetMaxReceiveMessageSize(limits_.max_request_bytes);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, limits_.max_request_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, 8 * 1024);

  grpc->server = builder.BuildAndStart();
  if (!grpc->server) {
    if (auto quiet = start_log_.Allow(0)) {
      Log().error(
          "cannot start the gRPC server for control socket {} ({} more refused since "
          "the last line)",
          path_, *quiet);
    }
    return false;
  }
  grpc_ = std::move(grpc);
  return true;
}

int ControlServer::AcceptPending() {
  if (stopped_) return 0;
  for (;;) {
    UniqueFd conn(accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!conn) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return errno;
    }
    ucred cred = {};
    socklen_t len = sizeof(cred);
    if (getsockopt(conn.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
        (cred.uid != geteuid() && cred.uid != 0)) {
      ++refused_peers_;
      if (auto quiet = refused_log_.Allow(cred.uid)) {
        Log().warn(
            "refused a control connection on {} from uid {} (pid {}): only uid {} may "
            "connect ({} more from uid {} refused since the last line; said once a "
            "minute)",
            path_, cred.uid, cred.pid, geteuid(), *quiet, cred.uid);
      }
      continue;
    }
    if (!connections_->Prune(limits_.max_connections)) {
      ++refused_over_cap_;
      if (auto quiet = over_cap_log_.Allow(0)) {
        Log().warn(
            "refused a control connection on {} from pid {}: {} connections are open, "
            "the most allowed ({} more refused since the last line; said once a minute)",
            path_, cred.pid, connections_->size(), *quiet);
      }
      continue;
    }
    if (!grpc_ && !StartGrpc()) continue;
    connections_->Add(conn.get());
    grpc::AddInsecureChannelFromFd(grpc_->server.get(), conn.release());  // takes ownership
  }
}

}  // namespace appkit
