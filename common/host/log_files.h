// Log file sinks for spdlog that are safe to reopen while threads log.
//
// spdlog's own file sinks open their files by path (following symlinks,
// blocking on FIFOs) and cannot be reopened in place, so reopening after
// logrotate meant replacing the default logger under threads that were
// using it (a crash). These sinks:
//   - open through common/base/safe_file.h (no symlink, FIFO, device, foreign or
//     hard-linked file; the directory must be trusted);
//   - append with O_APPEND and write every line at once, so several
//     processes can share one file and a crash loses no line;
//   - Reopen() by name under the sink's own mutex (the one spdlog holds
//     while writing), so a reopen is atomic to every logging thread: a line
//     goes to the old file or the new one, never nowhere. If the new open
//     fails, the old file stays in use and the error says why;
//   - on a failed write (disk full) write the line to stderr instead, and
//     say there, naming the file, at most once a minute, why.
// The rotating sinks rotate as Python's handlers do, and coordinate with
// other processes writing the same file through flock(2) on it: whoever
// rotates first renames, the others notice and reopen.
//   - SizeRotatingFileSink: RotatingFileHandler (name.1 ... name.N).
//   - TimedRotatingFileSink: TimedRotatingFileHandler; the live file keeps
//     its name, old ones get a UTC date suffix (name.2026-11-30 for
//     "midnight"/"D", name.2026-11-30_14 for "H", ..._14-05 for "M",
//     ..._14-05-09 for "S"); only the newest backup_count are kept (0: all).
#ifndef APPKIT_COMMON_LOG_FILES_H_
#define APPKIT_COMMON_LOG_FILES_H_

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/base/unique_fd.h"
#include "spdlog/sinks/base_sink.h"

namespace appkit {

class LogFileSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // Opens (creating) `path`; errors name it.
  static absl::StatusOr<std::shared_ptr<LogFileSink>> Open(const std::string& path);

  // Opens the file again by name (after logrotate moved it). On failure
  // the current file stays in use and the error says why.
  absl::Status Reopen();

  const std::string& path() const { return path_; }

 protected:
  explicit LogFileSink(std::string path) : path_(std::move(path)) {}
  absl::Status OpenLocked();  // (re)opens by name, holding mutex_
  // Called with mutex_ held before `bytes` are appended.
  virtual void BeforeWrite(size_t /*bytes*/) {}
  // Whether the path still names the file we write to.
  bool StillCurrent() const;

  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override {}

  const std::string path_;
  UniqueFd fd_;

 private:
  void ReportWriteError(int err, absl::string_view line);
  absl::Time last_error_report_ = absl::InfinitePast();
};

class SizeRotatingFileSink final : public LogFileSink {
 public:
  static absl::StatusOr<std::shared_ptr<SizeRotatingFileSink>> Open(const std::string& path,
                                                                    int64_t max_bytes,
                                                                    int backup_count);

 private:
  SizeRotatingFileSink(std::string path, int64_t max_bytes, int backup_count)
      : LogFileSink(std::move(path)), max_bytes_(max_bytes), backup_count_(backup_count) {}
  void BeforeWrite(size_t bytes) override;

  const int64_t max_bytes_;
  const int backup_count_;
};

class TimedRotatingFileSink final : public LogFileSink {
 public:
  using Clock = std::function<absl::Time()>;
  // `when`: "S", "M", "H", "D" or "MIDNIGHT" (case-insensitive); `interval`
  // units of it (>= 1; MIDNIGHT: days at 00:00 UTC). `now` is for tests.
  static absl::StatusOr<std::shared_ptr<TimedRotatingFileSink>> Open(const std::string& path,
                                                                     const std::string& when,
                                                                     int interval, int backup_count,
                                                                     Clock now = absl::Now);

  // The name an old file gets when the period that began at `start` ends.
  std::string BackupName(absl::Time start) const;

 private:
  TimedRotatingFileSink(std::string path, std::string when, int interval, int backup_count,
                        Clock now);
  void BeforeWrite(size_t bytes) override;
  absl::Time NextRollover(absl::Time from) const;
  void RemoveOldBackups();

  const std::string when_;  // upper case
  const absl::Duration period_;
  const std::string suffix_format_;
  const int backup_count_;
  const Clock now_;
  absl::Time rollover_at_;
};

}  // namespace appkit

#endif  // APPKIT_COMMON_LOG_FILES_H_
