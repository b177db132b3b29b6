#include "common/host/log_files.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/base/fd_io.h"
#include "common/base/safe_file.h"

namespace appkit {
namespace {

constexpr absl::Duration kWriteErrorReportSpacing = absl::Minutes(1);

// Appends all of `data` (O_APPEND: one write per line when it fits);
// 0 or the errno of the failure.
int AppendAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += n;
    size -= n;
  }
  return 0;
}

absl::Duration PeriodOf(const std::string& when, int interval) {
  absl::Duration unit = absl::Hours(24);
  if (when == "S") unit = absl::Seconds(1);
  if (when == "M") unit = absl::Minutes(1);
  if (when == "H") unit = absl::Hours(1);
  return unit * std::max(interval, 1);
}

// Python's TimedRotatingFileHandler suffixes.
std::string SuffixFormatOf(const std::string& when) {
  if (when == "S") return "%Y-%m-%d_%H-%M-%S";
  if (when == "M") return "%Y-%m-%d_%H-%M";
  if (when == "H") return "%Y-%m-%d_%H";
  return "%Y-%m-%d";
}

// Whether `suffix` has the shape of `example` (digits where it has digits).
bool SameShape(const std::string& suffix, const std::string& example) {
  if (suffix.size() != example.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i) {
    const bool digit = absl::ascii_isdigit(static_cast<unsigned char>(example[i]));
    if (digit ? !absl::ascii_isdigit(static_cast<unsigned char>(suffix[i]))
              : suffix[i] != example[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<std::shared_ptr<LogFileSink>> LogFileSink::Open(const std::string& path) {
  std::shared_ptr<LogFileSink> sink(new LogFileSink(path));
  if (absl::Status opened = sink->OpenLocked(); !opened.ok()) return opened;
  return sink;
}

absl::Status LogFileSink::OpenLocked() {
  absl::StatusOr<UniqueFd> fd = OpenOutputFile(path_, "log file");
  if (!fd.ok()) return fd.status();
  fd_ = std::move(*fd);
  return absl::OkStatus();
}

absl::Status LogFileSink::Reopen() {
  std::lock_guard<std::mutex> lock(mutex_);
  return OpenLocked();
}

bool LogFileSink::StillCurrent() const {
  struct stat by_fd, by_path;
  return fstat(fd_.get(), &by_fd) == 0 && lstat(path_.c_str(), &by_path) == 0 &&
         by_fd.st_dev == by_path.st_dev && by_fd.st_ino == by_path.st_ino;
}

void LogFileSink::sink_it_(const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t line;
  formatter_->format(msg, line);
  BeforeWrite(line.size());
  if (int err = AppendAll(fd_.get(), line.data(), line.size()); err != 0) {
    ReportWriteError(err, absl::string_view(line.data(), line.size()));
  }
}

void LogFileSink::ReportWriteError(int err, absl::string_view line) {
  // Not through spdlog: this very sink may be behind it. The line goes to
  // stderr instead (unless stderr is this very file), so a full log disk
  // loses no line where stderr lives elsewhere.
  struct stat ours, stderr_file;
  const bool stderr_is_this_file = fstat(fd_.get(), &ours) == 0 && fstat(2, &stderr_file) == 0 &&
                                   ours.st_dev == stderr_file.st_dev &&
                                   ours.st_ino == stderr_file.st_ino;
  if (stderr_is_this_file) return;
  const absl::Time now = absl::Now();
  if (now - last_error_report_ >= kWriteErrorReportSpacing) {
    last_error_report_ = now;
    (void)WriteAll(2, absl::StrCat("appkit (pid ", getpid(), "): cannot write log file ", path_,
                                   ": ", strerror(err),
                                   "; its lines go to stderr meanwhile (said once a minute)\n"));
  }
  (void)WriteAll(2, std::string_view(line.data(), line.size()));
}

absl::StatusOr<std::shared_ptr<SizeRotatingFileSink>> SizeRotatingFileSink::Open(
    const std::string& path, int64_t max_bytes, int backup_count) {
  std::shared_ptr<SizeRotatingFileSink> sink(
      new SizeRotatingFileSink(path, max_bytes, backup_count));
  if (absl::Status opened = sink->OpenLocked(); !opened.ok()) return opened;
  return sink;
}

void SizeRotatingFileSink::BeforeWrite(size_t bytes) {
  // As Python's RotatingFileHandler: no rollover without backups.
  if (max_bytes_ <= 0 || backup_count_ <= 0) return;
  struct stat st;
  if (fstat(fd_.get(), &st) != 0 || st.st_size == 0 ||
      st.st_size + static_cast<int64_t>(bytes) <= max_bytes_) {
    return;
  }
  // One rotation at a time among the processes sharing the file: the
  // lock is on the live file; a process that waited finds it renamed.
  if (flock(fd_.get(), LOCK_EX) != 0) return;
  if (StillCurrent()) {
    for (int i = backup_count_ - 1; i >= 1; --i) {
      rename(absl::StrCat(path_, ".", i).c_str(), absl::StrCat(path_, ".", i + 1).c_str());
    }
    rename(path_.c_str(), absl::StrCat(path_, ".1").c_str());
  }
  // The new file (or the one another process made); the old fd and its
  // lock go. On failure we keep appending to the renamed file.
  UniqueFd old = std::move(fd_);
  if (!OpenLocked().ok()) fd_ = std::move(old);
}

absl::StatusOr<std::shared_ptr<TimedRotatingFileSink>> TimedRotatingFileSink::Open(
    const std::string& path, const std::string& when, int interval, int backup_count, Clock now) {
  std::shared_ptr<TimedRotatingFileSink> sink(
      new TimedRotatingFileSink(path, absl::AsciiStrToUpper(when.empty() ? "H" : when), interval,
                                backup_count, std::move(now)));
  if (absl::Status opened = sink->OpenLocked(); !opened.ok()) return opened;
  // As Python: the period of an existing file starts at its last change.
  struct stat st;
  absl::Time from = sink->now_();
  if (fstat(sink->fd_.get(), &st) == 0 && st.st_size > 0) from = absl::FromTimeT(st.st_mtime);
  sink->rollover_at_ = sink->NextRollover(from);
  return sink;
}

TimedRotatingFileSink::TimedRotatingFileSink(std::string path, std::string when, int interval,
                                             int backup_count, Clock now)
    : LogFileSink(std::move(path)),
      when_(when == "MIDNIGHT" ? "D" : when),
      period_(PeriodOf(when_, interval)),
      suffix_format_(SuffixFormatOf(when_)),
      backup_count_(backup_count),
      now_(std::move(now)) {}

absl::Time TimedRotatingFileSink::NextRollover(absl::Time from) const {
  // Periods are aligned to UTC boundaries ("midnight" is 00:00 UTC), so
  // every process sharing the file agrees on when it rotates.
  const absl::Duration since_epoch = from - absl::UnixEpoch();
  return absl::UnixEpoch() + absl::Floor(since_epoch, period_) + period_;
}

std::string TimedRotatingFileSink::BackupName(absl::Time start) const {
  return absl::StrCat(path_, ".", absl::FormatTime(suffix_format_, start, absl::UTCTimeZone()));
}

void TimedRotatingFileSink::BeforeWrite(size_t /*bytes*/) {
  const absl::Time now = now_();
  if (now < rollover_at_) return;
  if (flock(fd_.get(), LOCK_EX) != 0) return;
  if (StillCurrent()) {
    rename(path_.c_str(), BackupName(rollover_at_ - period_).c_str());
    RemoveOldBackups();
  }
  UniqueFd old = std::move(fd_);
  if (!OpenLocked().ok()) fd_ = std::move(old);
  rollover_at_ = NextRollover(now);
}

void TimedRotatingFileSink::RemoveOldBackups() {
  if (backup_count_ <= 0) return;
  const std::string dir = DirName(path_);
  const std::string base = path_.substr(path_.rfind('/') + 1) + ".";
  const std::string example =
      absl::FormatTime(suffix_format_, absl::UnixEpoch(), absl::UTCTimeZone());
  std::vector<std::string> backups;
  if (DIR* listing = opendir(dir.c_str())) {
    while (dirent* entry = readdir(listing)) {
      const std::string name = entry->d_name;
      if (absl::StartsWith(name, base) && SameShape(name.substr(base.size()), example)) {
        backups.push_back(name);
      }
    }
    closedir(listing);
  }
  if (backups.size() <= static_cast<size_t>(backup_count_)) return;
  std::sort(backups.begin(), backups.end());  // the suffix sorts by time
  for (size_t i = 0; i + backup_count_ < backups.size(); ++i) {
    unlink(absl::StrCat(dir, "/", backups[i]).c_str());
  }
}

}  // namespace appkit
