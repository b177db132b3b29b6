// ForegroundReport: what a foreground guardian (RunDaemon, SPEC §10) tells
// its starter on wire::kGuardianForegroundFd, one line each:
//   READY=1     once, the first time the entry runs and is ready (SPEC §8);
//   STOPPING=1  once, when the daemon starts to stop (or ended by itself);
//   WATCHDOG=1  whenever the guardian's loop says it is alive (Watchdog());
//   EXIT=<n>    last, the status to exit with (ForegroundExitStatus).
// The starter forwards the first three to its own manager (systemd's
// NOTIFY_SOCKET) and exits with the last. The lines follow sd_notify's
// wording on purpose. Writes never block for long (a pipe whose reader
// reads all the time); a starter that is gone (EPIPE) is ignored: the
// guardian's parent-death signal stops it anyway. Loop thread only.
#ifndef APPKIT_GUARDIAN_FOREGROUND_REPORT_H_
#define APPKIT_GUARDIAN_FOREGROUND_REPORT_H_

#include <string>
#include <vector>

#include "common/base/unique_fd.h"
#include "guardian/machine.h"

namespace appkit::guardian {

// The status a foreground supervisor exits with: the last run's exit code,
// 128+N when signal N ended it (as shells say it); 1 when no entry ever ran.
int ForegroundExitStatus(const Record& record);

class ForegroundReport {
 public:
  // `fd`: the pipe's write end (made close-on-exec; may be empty).
  explicit ForegroundReport(UniqueFd fd);

  // The lines `record` means now that were not said yet ("READY=1",
  // "STOPPING=1"); pure but for what it remembers having said.
  std::vector<std::string> Lines(const Record& record);
  // Lines(record), written.
  void Update(const Record& record);
  void Watchdog();
  // "EXIT=<status>", then the pipe is closed.
  void Exit(int status);

 private:
  void Write(const std::string& line);

  UniqueFd fd_;
  bool ready_said_ = false;
  bool stopping_said_ = false;
};

}  // namespace appkit::guardian

#endif  // APPKIT_GUARDIAN_FOREGROUND_REPORT_H_
