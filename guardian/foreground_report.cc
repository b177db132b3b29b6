#include "guardian/foreground_report.h"

#include <fcntl.h>

#include "absl/strings/str_cat.h"
#include "common/base/fd_io.h"

namespace appkit::guardian {

int ForegroundExitStatus(const Record& record) {
  const Run& last = record.executor;
  if (last.pid == 0 || !last.end_time) return 1;
  return last.exit.signaled ? 128 + last.exit.code : last.exit.code;
}

ForegroundReport::ForegroundReport(UniqueFd fd) : fd_(std::move(fd)) {
  if (fd_) fcntl(fd_.get(), F_SETFD, FD_CLOEXEC);
}

std::vector<std::string> ForegroundReport::Lines(const Record& record) {
  std::vector<std::string> lines;
  if (!ready_said_ && record.state == State::kRunning && record.ready) {
    ready_said_ = true;
    lines.push_back("READY=1");
  }
  if (!stopping_said_ && (record.state == State::kStopping || record.state == State::kExited) &&
      !record.restart_requested) {
    stopping_said_ = true;
    lines.push_back("STOPPING=1");
  }
  return lines;
}

void ForegroundReport::Update(const Record& record) {
  for (const std::string& line : Lines(record)) Write(line);
}

void ForegroundReport::Watchdog() { Write("WATCHDOG=1"); }

void ForegroundReport::Exit(int status) {
  Write(absl::StrCat("EXIT=", status));
  fd_.reset();
}

void ForegroundReport::Write(const std::string& line) {
  if (fd_) (void)WriteAll(fd_.get(), line + "\n");
}

}  // namespace appkit::guardian
