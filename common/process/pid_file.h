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
// A pid read from a pid file is never trusted by itself (SPEC §7): a
// holder is reported only after checking that it holds the lock, is the
// pid the file names (or, for a holder in a child PID namespace such as a
// container's, the pid it has there: its NSpid; the holder is then
// reported as this process sees it), runs the expected appkit binary and
// owns the file;
// anything else is "held by something else", never a pid to signal. The
// directory must be trusted (common/base/safe_file.h); the file is opened
// without following symlinks and without blocking.
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
#include <string_view>

#include "absl/status/statusor.h"
#include "common/base/unique_fd.h"

namespace appkit {

class PidFile {
 public:
  // The process holding a pid file, as far as a reader can tell.
  //   kNone:    no pid file, or a stale one (nobody holds its lock, or it
  //             holds garbage): a start may replace it.
  //   kRunning: `pid` holds the lock, is named in the file, runs the
  //             expected binary and is the file's owner: an appkit process
  //             of this pid file, safe to report (and, re-checked with
  //             StillHeldBy, to signal).
  //   kForeign: the lock is held by something that is not that (an open
  //             file description lock, whose holder the kernel reports as
  //             pid -1; another binary; a pid that does not match the
  //             file): `why` says what. Never signal it.
  struct Holder {
    enum class State { kNone, kRunning, kForeign };
    State state = State::kNone;
    pid_t pid = 0;
    std::string why;
  };
  // Never blocks (a FIFO planted at `path` is an error naming it), never
  // follows a symlink, never reports a pid below 2. `holder_exe` is the
  // base name of the binary a live holder must run ("guardian").
  static absl::StatusOr<Holder> Inspect(const std::string& path, const std::string& holder_exe);

  // Whether `pid` still holds `path` as a kRunning holder: for a caller
  // about to signal it (through a pidfd opened before this check).
  static bool StillHeldBy(const std::string& path, pid_t pid, const std::string& holder_exe);

  struct AcquireResult {
    std::unique_ptr<PidFile> file;  // set when this process won
    pid_t running_pid = 0;          // set when a verified live holder has it
  };
  // Whose the lock is. kProcess: a POSIX lock, this process's (readers
  // name and verify it). kOpenFile: an open file description lock
  // (F_OFD_SETLK): it belongs to the open file, so it outlives an exec as
  // long as another process keeps the fd (a command worker passes it to
  // its controller before it becomes the program); readers see a holder
  // the kernel does not name, kForeign: held, never signalled.
  enum class LockKind { kProcess, kOpenFile };
  // Errors name the path: a missing or untrusted directory
  // (common/base/safe_file.h), a directory, symlink or FIFO at the path, a file
  // owned by another user, permission denied, or a file held by something
  // that is not a `holder_exe` process (see Holder::kForeign).
  static absl::StatusOr<AcquireResult> Acquire(const std::string& path, pid_t pid,
                                               const std::string& holder_exe,
                                               LockKind kind = LockKind::kProcess);

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
  // The locked file (close-on-exec), to pass on with SCM_RIGHTS.
  int fd() const { return fd_.get(); }

 private:
  PidFile(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}

  std::string path_;
  UniqueFd fd_;
};

}  // namespace appkit

#endif  // APPKIT_COMMON_PID_FILE_H_
