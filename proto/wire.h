// The contracts between appkit's own processes that are not protobuf
// messages: which fd carries what, the bytes of the worker's control
// channel, and how sockets are named. Both sides of each contract include
// this header; nothing else spells these numbers (docs/architecture.md,
// "Wire contracts", draws who talks to whom).
#ifndef APPKIT_PROTO_WIRE_H_
#define APPKIT_PROTO_WIRE_H_

#include <string>

namespace appkit::wire {

// StartDaemon -> guardian (exec'd detached).
inline constexpr int kGuardianLaunchFd = 3;      // memfd: a v1::DaemonLaunch
inline constexpr int kGuardianReadyFd = 4;       // pipe: one v1::GuardianReady, then EOF
inline constexpr int kGuardianForkServerFd = 5;  // the executor fork server, started beside it
// RunDaemon -> guardian (foreground: its child): lines "READY=1", "STOPPING=1",
// "WATCHDOG=1" and last "EXIT=<status>" (guardian/foreground_report.h).
inline constexpr int kGuardianForegroundFd = 6;

// Any fork server (executor, worker binaries) <- its supervisor.
inline constexpr int kForkServerFd = 3;  // SOCK_SEQPACKET: fork requests and answers

// Guardian -> executor (a fork of the executor fork server).
inline constexpr int kExecutorReadyFd = 4;      // pipe: kEntryRunning once the entry is called,
                                                // then kReady (NotifyReady) with a ready_timeout
inline constexpr int kExecutorHeartbeatFd = 5;  // memfd: the heartbeat table (watchdog only)

// Controller -> worker (a fork of the worker fork server).
inline constexpr int kWorkerChannelFd = 3;    // SOCK_SEQPACKET, one byte per message
inline constexpr int kWorkerHeartbeatFd = 4;  // memfd: the pool's heartbeat table (watchdog only)

// Messages on the worker channel (one byte each), the executor's
// readiness pipe, and a fork-server child's go socket.
enum class Message : char {
  kEntryRunning = 'r',    // child -> supervisor: the module is loaded, the entry is called
  kQuit = 'q',            // controller -> worker: QuitRequested() becomes true
  kRewritePidFile = 'p',  // controller -> worker: its pid file was removed by hand
  kPing = 'h',            // controller -> worker: are you there?
  kPong = 'H',            // worker -> controller: the answer
  kGo = 'g',              // supervisor -> fork-server child: your pid is known, run (EOF: never)
  // Child -> supervisor, with a payload (common/host/supervisor_report.h):
  kEntryError = 'e',  // why the entry failed, or why the child could not start it
  kStopBudget = 'b',  // executor -> guardian: the pool in it stops within this
  kReady = 'R',       // child -> supervisor: NotifyReady() (only with a ready_timeout)
};

// The guardian's socket when the user names none: "<pid file>.sock".
inline std::string DefaultGuardianSocket(const std::string& pid_filename) {
  return pid_filename + ".sock";
}

// The controller's socket beside the guardian's: "<name>.workers.sock"
// for "<name>.sock" (or "<guardian socket>.workers.sock").
inline std::string ControllerSocketFor(const std::string& guardian_socket) {
  std::string base = guardian_socket;
  constexpr char kSuffix[] = ".sock";
  constexpr size_t kSuffixLength = sizeof(kSuffix) - 1;
  if (base.size() > kSuffixLength &&
      base.compare(base.size() - kSuffixLength, kSuffixLength, kSuffix) == 0) {
    base.resize(base.size() - kSuffixLength);
  }
  return base + ".workers.sock";
}

// The status snapshot files (common/base/status_file.h) that appkitctl
// reads without an RPC: the guardian's beside its pid file, a
// v1::GuardianStatus ("<pid file>.status"); the controller's beside its
// socket, a v1::ListWorkersResponse ("<name>.workers.status" for
// "<name>.workers.sock").
inline std::string GuardianStatusFileFor(const std::string& pid_filename) {
  return pid_filename + ".status";
}
inline std::string WorkersStatusFileFor(const std::string& controller_socket) {
  std::string base = controller_socket;
  constexpr char kSuffix[] = ".sock";
  constexpr size_t kSuffixLength = sizeof(kSuffix) - 1;
  if (base.size() > kSuffixLength &&
      base.compare(base.size() - kSuffixLength, kSuffixLength, kSuffix) == 0) {
    base.resize(base.size() - kSuffixLength);
  }
  return base + ".status";
}

}  // namespace appkit::wire

#endif  // APPKIT_PROTO_WIRE_H_
