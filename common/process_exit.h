// How a process ended, and signalling a child's process group: the
// vocabulary every supervisor shares (Spawn's and the fork server's
// children alike).
#ifndef APPKIT_COMMON_PROCESS_EXIT_H_
#define APPKIT_COMMON_PROCESS_EXIT_H_

#include <signal.h>
#include <sys/types.h>

#include <string>

namespace appkit {

// How a process ended, from a waitid() siginfo or a wait status.
struct ProcessExit {
  bool signaled = false;
  int code = 0;  // exit status, or the signal number when signaled

  static ProcessExit FromSiginfo(const siginfo_t& info);
  static ProcessExit FromWaitStatus(int status);
  // pyappkit's exitcode: the status, or minus the signal (-9 for SIGKILL).
  int exitcode() const { return signaled ? -code : code; }
  bool success() const { return !signaled && code == 0; }
  // "exited with code 1", "killed by signal 9 (SIGKILL)".
  std::string Describe() const;
};

// kill(-leader, sig); when that group does not exist yet (a fork-server
// child between its fork and its setpgid), kill(leader, sig) instead: the
// child has nothing of its own yet, and it keeps SIGTERM/SIGINT/SIGHUP
// blocked until it handles them, so nothing is lost.
int SignalProcessGroup(pid_t leader, int sig);

// "SIGTERM" for 15, "signal 70" for an unnamed one.
std::string SignalName(int signal);

}  // namespace appkit

#endif  // APPKIT_COMMON_PROCESS_EXIT_H_
