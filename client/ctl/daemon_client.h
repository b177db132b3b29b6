// appkitctl's side of a running daemon: who holds its pid file, and its
// Guardian and Controller services. A pid read from a file is used only
// once common/process/pid_file.h verified that the guardian holds it, and a
// socket is spoken to only when the process listening on it is the one
// expected (SO_PEERCRED): a socket taken over by another process is never
// trusted. gRPC starts only when a call is made, never before.
#ifndef APPKIT_CLIENT_CTL_DAEMON_CLIENT_H_
#define APPKIT_CLIENT_CTL_DAEMON_CLIENT_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/controller.pb.h"
#include "proto/guardian.pb.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace appkit::ctl {

enum ExitCode { kOk = 0, kError = 1, kUsage = 2, kNotRunning = 3, kNotReady = 4 };

// Of two exit codes, the one that says more is wrong: error, then not
// running, then not ready, then ok.
int Worst(int a, int b);

struct Target {
  std::string pid_filename;
  std::string control_socket;  // empty: pid_filename + ".sock"
  std::string socket() const {
    return control_socket.empty() ? pid_filename + ".sock" : control_socket;
  }
};

// Why nobody runs for `pid_filename`, in words.
std::string WhyNotRunning(const std::string& pid_filename);

// The verified guardian of a pid file.
struct Running {
  std::optional<pid_t> pid;     // set when a verified guardian holds the file
  int exit_code = kNotRunning;  // when not: kNotRunning, or kError
  std::string why;              // when not: why, in words
};
Running RunningGuardian(const std::string& pid_filename);

// The guardian's status snapshot file (common/base/status_file.h,
// wire::GuardianStatusFileFor), without an RPC: only a file owned by the
// user `pid` runs as, 0600, one link, naming `pid` (the verified holder of
// the pid file) and `socket` as its control socket, which must still be
// the socket the guardian listens on (same inode); controller_socket is
// kept only while a socket is there (as GetStatus answers). nullopt for
// anything else: the caller asks over the socket.
std::optional<v1::GuardianStatus> ReadGuardianSnapshot(const std::string& pid_filename,
                                                       const std::string& socket, pid_t pid);

// The Guardian service of `pid`, listening on `socket`. Errors carry the
// server's or the connection's message.
absl::StatusOr<v1::GuardianStatus> GetStatus(const std::string& socket, pid_t pid);
absl::Status RequestQuit(const std::string& socket, pid_t pid);
// Guardian.Restart: the status right after the request was taken.
absl::StatusOr<v1::GuardianStatus> RequestRestart(const std::string& socket, pid_t pid);
absl::StatusOr<v1::GuardianDebugSnapshot> GetDebugSnapshot(const std::string& socket, pid_t pid);

// A channel to `socket` if the process that listens on it is `pid`
// (SO_PEERCRED); PermissionDenied naming both otherwise.
absl::StatusOr<std::shared_ptr<grpc::Channel>> VerifiedChannel(const std::string& socket,
                                                               pid_t pid);

// The daemon's workers: from the controller's status snapshot file beside
// its socket when it is the running executor's (same checks as above),
// else through the controller socket `status` names (served by its
// executor). FailedPrecondition, saying why, when the
// daemon runs no pool or serves no controller socket.
absl::StatusOr<v1::ListWorkersResponse> ListWorkers(const v1::GuardianStatus& status);

// A worker verb on the pool, the same way: `verb` is "start"
// (StartWorker), "restart" (RestartWorker), "stop" (RequestQuit of the
// worker) or "remove" (RemoveWorker: waits until the worker is gone).
// Errors keep the server's code (NOT_FOUND, FAILED_PRECONDITION, ...).
absl::StatusOr<v1::WorkerStatus> WorkerVerb(const v1::GuardianStatus& status,
                                            const std::string& verb, const std::string& worker);
// AddWorker: the pool checks `spec` as StartWorkers checks a worker (a
// missing program, a bad file: INVALID_ARGUMENT naming it, nothing added)
// and starts it. The new worker as the pool answered.
absl::StatusOr<v1::WorkerStatus> AddWorker(const v1::GuardianStatus& status,
                                           const v1::WorkerSpec& spec);
// RollingRestart; waits for it (at most `timeout` when set). The names of
// the workers restarted.
absl::StatusOr<std::vector<std::string>> RollingRestart(const v1::GuardianStatus& status,
                                                        std::optional<absl::Duration> timeout);

}  // namespace appkit::ctl

#endif  // APPKIT_CLIENT_CTL_DAEMON_CLIENT_H_
