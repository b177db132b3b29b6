#include "common/process_exit.h"

#include <errno.h>
#include <string.h>
#include <sys/wait.h>

#include "absl/strings/str_cat.h"

namespace appkit {

ProcessExit ProcessExit::FromSiginfo(const siginfo_t& info) {
  ProcessExit exit;
  exit.signaled = info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED;
  exit.code = info.si_status;
  return exit;
}

ProcessExit ProcessExit::FromWaitStatus(int status) {
  ProcessExit exit;
  if (WIFSIGNALED(status)) {
    exit.signaled = true;
    exit.code = WTERMSIG(status);
  } else {
    exit.code = WEXITSTATUS(status);
  }
  return exit;
}

std::string SignalName(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  if (abbrev == nullptr) return absl::StrCat("signal ", signal);
  return absl::StrCat("SIG", abbrev);
}

std::string ProcessExit::Describe() const {
  if (signaled) return absl::StrCat("killed by signal ", code, " (", SignalName(code), ")");
  return absl::StrCat("exited with code ", code);
}

int SignalProcessGroup(pid_t leader, int sig) {
  if (kill(-leader, sig) == 0) return 0;
  if (errno != ESRCH) return -1;
  return kill(leader, sig);
}

}  // namespace appkit
