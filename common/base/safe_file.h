// Files in directories that others may share (SPEC §7, "File safety").
//
// appkit often runs as root and writes into directories such as /tmp,
// where another user may have planted a symlink, a FIFO, a hard link or a
// directory of their own at the very path appkit is about to open. Every
// file appkit creates or opens for writing goes through this header:
//
//   - CheckTrustedDirectory: the directory, and every directory above it,
//     can be changed only by us or root: each is owned by us or root, and
//     none is writable by others (group or world) unless it has the
//     sticky bit (/tmp). A symlink on the way is followed only when us or
//     root own it (/var/run -> /run); one owned by anybody else is
//     refused. Once a path passes, nobody else can swap any part of it.
//   - OpenOutputFile: appends to a regular file (created 0644 if missing),
//     opened with O_NOFOLLOW | O_NONBLOCK, then checked with fstat: a
//     symlink, FIFO, socket, directory or block device at the path is
//     refused without blocking and without a byte written; so is a
//     regular file owned by another user or with more than one hard link
//     (a planted link to /etc/shadow). A character device is used only
//     when it is the very path given (the default /dev/null).
//   - OpenFileForReading: a regular file, for reading, never blocking.
//   - WriteFileAtomically: a private temporary (O_EXCL, random name) in
//     the same directory, renamed over the target: readers see the old or
//     the new content, never a torn file; a symlink or FIFO at the target
//     is refused.
//
// Errors name `what` (the option or role, e.g. "stdout_filename") and the
// path, and say why in words. Thread-safe (no shared state).
#ifndef APPKIT_COMMON_SAFE_FILE_H_
#define APPKIT_COMMON_SAFE_FILE_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/base/unique_fd.h"

namespace appkit {

// "/a" for "/a/b", "/" for "/b", "." for a bare name.
std::string DirName(const std::string& path);

// OK when `dir` exists, is a directory, and only we or root can change it
// or any directory above it (see above). `what` names the file the
// directory is for ("pid file /x/y.pid").
absl::Status CheckTrustedDirectory(const std::string& dir, const std::string& what);

// Checks `path` as OpenOutputFile would, without creating anything: its
// directory is trusted and writable, and what is at the path (if
// anything) is a file appkit may append to. For up-front validation.
absl::Status CheckOutputFile(const std::string& path, const std::string& what);

// Opens `path` for appending (O_APPEND, created 0644, close-on-exec).
absl::StatusOr<UniqueFd> OpenOutputFile(const std::string& path, const std::string& what);

// Opens an existing regular file for reading (close-on-exec); never
// follows a symlink at `path`, never blocks on a FIFO.
absl::StatusOr<UniqueFd> OpenFileForReading(const std::string& path, const std::string& what);

// Replaces `path` with `content` atomically (see above). The file is 0644.
absl::Status WriteFileAtomically(const std::string& path, std::string_view content,
                                 const std::string& what);

// "a symbolic link", "a FIFO", ... for an lstat/fstat mode.
std::string FileTypeName(unsigned mode);

}  // namespace appkit

#endif  // APPKIT_COMMON_SAFE_FILE_H_
