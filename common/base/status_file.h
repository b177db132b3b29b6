// Status snapshot files: what a supervisor publishes beside its pid file
// or socket so that `appkitctl status` / `workers` need no RPC (as s6's
// supervise/status). SPEC §7 (file safety) applies to both ends.
//
//   - StatusFileWriter (the supervisor, on its loop thread): Create checks
//     the directory once (CheckTrustedDirectory: only we or root can
//     change it, so nothing can be planted there afterwards) and refuses a
//     symlink, FIFO, directory... at the path; it then creates the file
//     (O_EXCL | O_NOFOLLOW, mode 0600 like the control socket), removing
//     a previous run's. Write rewrites it in place under a sequence number
//     (a seqlock: odd while a write is under way), so a reader keeps the
//     previous or the new snapshot, never a torn one; no rename (on ext4
//     a rename over a file forces the new blocks out: milliseconds). The
//     caller
//     writes at each transition, before it handles anything else, so the
//     file never shows a state older than the last transition. Identical
//     content is not written again. The destructor removes the file.
//   - ReadStatusFile (the client): opens without following a symlink and
//     without blocking on a FIFO, and refuses anything but a regular file
//     with one link, owned by `owner` (the daemon's user), that no one else
//     may read or write; a snapshot read mid-write is read again. The
//     caller still checks that the process the
//     snapshot names is alive and holds its pid file before trusting it.
#ifndef APPKIT_COMMON_BASE_STATUS_FILE_H_
#define APPKIT_COMMON_BASE_STATUS_FILE_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/base/unique_fd.h"

namespace appkit {

class StatusFileWriter {
 public:
  // `what` names the file in errors ("status file").
  static absl::StatusOr<std::unique_ptr<StatusFileWriter>> Create(const std::string& path,
                                                                  const std::string& what);
  ~StatusFileWriter();  // unlinks the file
  StatusFileWriter(const StatusFileWriter&) = delete;
  StatusFileWriter& operator=(const StatusFileWriter&) = delete;

  absl::Status Write(std::string content);
  const std::string& path() const { return path_; }

 private:
  StatusFileWriter(std::string path, std::string what, UniqueFd fd);

  const std::string path_;
  const std::string what_;
  UniqueFd fd_;
  uint64_t sequence_ = 0;
  std::string last_;
  bool written_ = false;
};

// The file's bytes for `content` as a writer leaves them (for tests that
// plant a file).
std::string StatusFileBytes(std::string_view content);

// The content of the status file at `path` (see above for the checks).
// NotFound when there is none.
absl::StatusOr<std::string> ReadStatusFile(const std::string& path, uid_t owner,
                                           const std::string& what);

}  // namespace appkit

#endif  // APPKIT_COMMON_BASE_STATUS_FILE_H_
