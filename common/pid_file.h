// PidFile: a daemon's pid file, created and locked for its owner's life.
//
// "Running" means "the lock is held": the owner holds a POSIX write lock
// (fcntl F_SETLK, whose holder any process can read with F_GETLK) and a
// flock(2) lock (for outside tools such as `flock -n`) on the file from
// the moment it appears until it is removed. The file's content,
// "<pid>\n", is written before it becomes visible (an O_TMPFILE inode
// linked into place), so a reader never sees a torn or empty pid file.
//
// Acquire() decides races between concurrent starters: exactly one wins;
// every loser learns the winner's pid. A pid file nobody holds (its owner
// died, or it holds garbage) is stale: it is removed and the start goes on.
//
// Locks are never inherited by children (POSIX locks belong to the
// process; the fd is close-on-exec), and the owner must not open and close
// the file elsewhere (closing any fd of a file drops POSIX locks).
#ifndef APPKIT_COMMON_PID_FILE_H_
#define APPKIT_COMMON_PID_FILE_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/unique_fd.h"

namespace appkit {

class PidFile {
 public:
  struct AcquireResult {
    std::unique_ptr<PidFile> file;  // set when this process won
    pid_t running_pid = 0;          // set when another live owner holds it
  };
  // Errors name the path (missing directory, a directory at the path,
  // permission denied).
  static absl::StatusOr<AcquireResult> Acquire(const std::string& path, pid_t pid);

  // The pid of the live process holding `path`, if any (nullopt when the
  // file is missing or stale).
  static std::optional<pid_t> Owner(const std::string& path);

  // For a survivor cleaning up after an owner that died by SIGKILL: when
  // `path` holds `dead_pid` and nobody holds its lock, takes the lock,
  // runs `while_locked` (remove the owner's sockets), removes the file and
  // returns true. A concurrent Acquire waits for this to finish.
  static bool RemoveIfStale(const std::string& path, pid_t dead_pid,
                            const std::function<void()>& while_locked = nullptr);

  // Removes the file (if it is still ours) and releases the lock.
  ~PidFile();
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;

  const std::string& path() const { return path_; }

 private:
  PidFile(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}

  std::string path_;
  UniqueFd fd_;
};

}  // namespace appkit

#endif  // APPKIT_COMMON_PID_FILE_H_
