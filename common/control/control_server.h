// ControlServer: appkit's gRPC control plane on a Unix socket it owns.
//
// The socket is bound by appkit itself (not by gRPC) so that:
//   - it is born mode 0600 (fchmod on the socket before bind(), never a
//     chmod by path) and only the owner (or root) can connect; every
//     accepted peer is also checked with SO_PEERCRED, and a peer of another
//     uid is refused (logged once per uid per minute, with a count);
//   - it is never shared: a live socket at the path (someone accepts on
//     it) is an AlreadyExists error naming the path and the serving pid; a
//     stale one (nobody listens) is replaced; anything else there (a file,
//     a symlink, a FIFO) is an error and left alone;
//   - accepting is an ordinary readable fd in the owner's event loop (see
//     common/process/accept_watch.h, which backs off when accept() fails);
//   - gRPC is started only on the first connection, so an idle
//     supervisor that nobody queries pays no gRPC threads or wake-ups.
// Accepted connections are handed to gRPC with AddInsecureChannelFromFd.
// Every server also serves grpc.health.v1.Health (SERVING for "" and each
// registered service) and gRPC server reflection.
//
// Bounded, whatever clients do (see Limits): open connections (over the
// cap a new one is closed at once: a request that cannot be served is
// refused, not queued); streams per connection (the HTTP/2 setting, and a
// connection whose client ignores it, by never acknowledging it, is cut
// once it holds too many calls); request size (rejected before it is
// buffered); gRPC's memory quota; threads. Every method is a callback
// (health, reflection: common/control/reflection_service.h; register only
// XXX::CallbackService services), so a stalled client holds memory, never
// a thread, and gRPC has no sync thread pool at all: its threads are a
// fixed set created when it starts, which happens only once that many
// threads could be created (else the connection is refused and logged:
// gRPC 1.51 would abort the process, or never run a handler).
//
// Usage (single owner thread; gRPC handlers run on gRPC's own threads):
//   auto server = ControlServer::Listen(
//       path, {{appkit::v1::Guardian::service_full_name(), &guardian_service}});
//   auto watch = AcceptWatch::Start(&loop, (*server)->fd(), path,
//                                   [&] { return (*server)->AcceptPending(); });
//   ...
//   watch->reset();
//   if (!(*server)->Stop()) { /* gRPC is stuck: keep the services alive, exit soon */ }
#ifndef APPKIT_COMMON_CONTROL_SERVER_H_
#define APPKIT_COMMON_CONTROL_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/base/log_limiter.h"
#include "common/base/unique_fd.h"
#include "common/base/unix_listener.h"
#include "common/base/unix_socket_path.h"
#include "common/control/health_service.h"
#include "grpcpp/server.h"

namespace appkit {

// One service to serve, and its full name (for the health service), e.g.
// {appkit::v1::Guardian::service_full_name(), &guardian_service}.
struct NamedService {
  std::string name;
  grpc::Service* service;
};

class ControlServer {
 public:
  struct Limits {
    int max_connections = 16;            // open at once; more are closed at accept
    int max_streams_per_connection = 8;  // HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS
    int cut_connection_at_calls = 32;    // calls open on one connection: it is cut
    int max_request_bytes = 16 * 1024;   // a control request is tiny
    int max_sync_threads = 2;            // a sync service's threads (none is registered)
    size_t max_memory_bytes = 16 << 20;  // gRPC's resource quota
  };

  // `services` must outlive the ControlServer (and, if Stop() returns
  // false, the process); their names are reported SERVING by the health
  // service.
  static absl::StatusOr<std::unique_ptr<ControlServer>> Listen(const std::string& path,
                                                               std::vector<NamedService> services);
  static absl::StatusOr<std::unique_ptr<ControlServer>> Listen(const std::string& path,
                                                               std::vector<NamedService> services,
                                                               Limits limits);
  // Serves on a socket bound already (ListenUnixSocket, `path` its name):
  // the connections waiting in its backlog are accepted from now on.
  static std::unique_ptr<ControlServer> Serve(const std::string& path, UnixListener listener,
                                              std::vector<NamedService> services);
  static std::unique_ptr<ControlServer> Serve(const std::string& path, UnixListener listener,
                                              std::vector<NamedService> services, Limits limits);

  // Stop(), then frees what gRPC no longer uses.
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // The listening socket: readable when a client connects.
  int fd() const { return listen_fd_.get(); }
  const std::string& path() const { return path_; }

  // Accepts every pending connection (never blocks). Returns 0 once none
  // is left, or the errno that stopped accept() (EMFILE...): then the
  // caller must not call again at once (AcceptWatch retries later).
  int AcceptPending();

  // Stops serving, in this order: unlinks the socket (if the file at the
  // path still is the one bound here), closes it, then stops gRPC (calls
  // in flight get `grace`, then are cancelled). The gRPC teardown runs on
  // a helper thread and is waited for at most `limit`: true when it ended
  // in time (or gRPC never started). False when it did not: gRPC may still
  // run the services, so the caller must keep them alive and should exit
  // soon; the gRPC objects are then left to the helper thread. Idempotent.
  bool Stop(absl::Duration grace = absl::Milliseconds(100),
            absl::Duration limit = absl::Seconds(2));

  // What the health service answers (set from any thread; SERVING for ""
  // and each service until set).
  HealthState* health() const { return health_.get(); }
  // The same, for another server that answers health from it (the TCP
  // port of health_listen: common/control/tcp_health_server.h).
  std::shared_ptr<HealthState> shared_health() const { return health_; }

  // Connections refused because of the peer's uid, or over the cap; and
  // connections cut for holding too many calls.
  int refused_peers() const { return refused_peers_; }
  int refused_over_cap() const { return refused_over_cap_; }
  int cut_connections() const;

  class Connections;  // shared with gRPC's threads (control_server.cc)

 private:
  ControlServer(std::string path, UniqueFd listen_fd, dev_t dev, ino_t ino,
                std::vector<NamedService> services, Limits limits);
  bool StartGrpc();

  const std::string path_;
  UniqueFd listen_fd_;
  // The socket file bound at path_ (removed at Stop only if still there).
  const dev_t dev_;
  const ino_t ino_;
  const std::vector<NamedService> services_;
  const Limits limits_;
  const std::shared_ptr<HealthState> health_ = std::make_shared<HealthState>();
  struct Grpc;  // the gRPC server and the services it owns
  std::shared_ptr<Grpc> grpc_;
  bool stopped_ = false;
  bool stopped_cleanly_ = true;
  // The connections handed to gRPC (which closes them when done).
  const std::shared_ptr<Connections> connections_;
  int refused_peers_ = 0;
  int refused_over_cap_ = 0;
  LogLimiter refused_log_;   // by uid
  LogLimiter over_cap_log_;  // one key
  LogLimiter start_log_;     // one key: gRPC cannot start
};

}  // namespace appkit

#endif  // APPKIT_COMMON_CONTROL_SERVER_H_
