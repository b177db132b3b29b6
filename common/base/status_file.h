// Status snapshot files: what a supervisor publishes beside its pid file
// or socket so that `appkitctl status` / `workers` need no RPC (as s6's
// supervise/status). SPEC §7 (file safety) applies to both ends.
//
//   - StatusFileWriter (the supervisor, on its loop thread): Create checks
//     the directory once (CheckTrustedDirectory: only we or root can
//     change it, so nothing can be planted there afterwards) and refuses a
//     symlink, FIFO, directory... at the path. Write replaces the file
//     atomically (a private O_EXCL temporary in the same directory, mode
//     0600 like the control socket, renamed over the path): a reader sees
//     the previous or the new snapshot, never a torn one. The caller
//     writes at each transition, before it handles anything else, so the
//     file never shows a state older than the last transition. Identical
//     content is not written again. The destructor removes the file.
//   - ReadStatusFile (the client): opens without following a symlink and
//     without blocking on a FIFO, and refuses anything but a regular file
//     with one link, owned by `owner` (the daemon's user), that no one else
//     may read or write. The caller still checks that the process the
//     snapshot names is alive and holds its pid file before trusting it.
#ifndef APPKIT_COMMON_BASE_STATUS_FILE_H_
#define APPKIT_COMMON_BASE_STATUS_FILE_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

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
  StatusFileWriter(std::string path, std::string what);

  const std::string path_;
  const std::string what_;
  const std::string temp_template_;
  std::string last_;
  bool written_ = false;
};

// The content of the status file at `path` (see above for the checks).
// NotFound when there is none.
absl::StatusOr<std::string> ReadStatusFile(const std::string& path, uid_t owner,
                                           const std::string& what);

}  // namespace appkit

#endif  // APPKIT_COMMON_BASE_STATUS_FILE_H_
