#include "common/base/status_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/base/errno_status.h"
#include "common/base/fd_io.h"
#include "common/base/safe_file.h"
#include "common/base/unique_fd.h"

namespace appkit {
namespace {

// A status file larger than this is not one appkit wrote.
constexpr off_t kMaxStatusFileSize = 64 << 20;

absl::Status Refused(const std::string& path, const std::string& what, const std::string& why) {
  return absl::PermissionDeniedError(absl::StrCat(what, " ", path, " ", why, ": refused"));
}

}  // namespace

StatusFileWriter::StatusFileWriter(std::string path, std::string what, UniqueFd fd)
    : path_(std::move(path)), what_(std::move(what)), fd_(std::move(fd)) {}

absl::StatusOr<std::unique_ptr<StatusFileWriter>> StatusFileWriter::Create(
    const std::string& path, const std::string& what) {
  if (absl::Status trusted = CheckTrustedDirectory(DirName(path), absl::StrCat(what, " ", path));
      !trusted.ok()) {
    return trusted;
  }
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) return Refused(path, what, "is " + FileTypeName(st.st_mode));
    unlink(path.c_str());  // a previous run's (the directory is ours: nobody else's)
  }
  // O_EXCL | O_NOFOLLOW in a directory only we or root can change:
  // nothing planted can be opened instead.
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("cannot create ", what, " ", path));
  fchmod(fd.get(), 0600);  // whatever the umask
  return std::unique_ptr<StatusFileWriter>(new StatusFileWriter(path, what, std::move(fd)));
}

StatusFileWriter::~StatusFileWriter() { unlink(path_.c_str()); }

absl::Status StatusFileWriter::Write(std::string content) {
  if (written_ && content == last_) return absl::OkStatus();
  // In place, under a sequence number (odd while writing): no rename,
  // which on ext4 forces the new file's blocks out (milliseconds).
  uint64_t header[2] = {++sequence_, content.size()};
  bool ok = pwrite(fd_.get(), &header[0], sizeof(header[0]), 0) == sizeof(header[0]);
  ok = ok && pwrite(fd_.get(), content.data(), content.size(), sizeof(header)) ==
                 static_cast<ssize_t>(content.size());
  ok = ok &&
       pwrite(fd_.get(), &header[1], sizeof(header[1]), sizeof(header[0])) == sizeof(header[1]);
  header[0] = ++sequence_;
  ok = ok && pwrite(fd_.get(), &header[0], sizeof(header[0]), 0) == sizeof(header[0]);
  if (!ok) return ErrnoStatus(errno, absl::StrCat("cannot write ", what_, " ", path_));
  written_ = true;
  last_ = std::move(content);
  return absl::OkStatus();
}

std::string StatusFileBytes(std::string_view content) {
  const uint64_t header[2] = {2, content.size()};
  std::string bytes(reinterpret_cast<const char*>(header), sizeof(header));
  bytes.append(content);
  return bytes;
}

absl::StatusOr<std::string> ReadStatusFile(const std::string& path, uid_t owner,
                                           const std::string& what) {
  absl::StatusOr<UniqueFd> fd = OpenFileForReading(path, what);
  if (!fd.ok()) return fd.status();
  struct stat st;
  if (fstat(fd->get(), &st) != 0)
    return ErrnoStatus(errno, absl::StrCat("fstat ", what, " ", path));
  if (!S_ISREG(st.st_mode)) return Refused(path, what, "is " + FileTypeName(st.st_mode));
  if (st.st_uid != owner) {
    return Refused(
        path, what,
        absl::StrCat("is owned by uid ", st.st_uid, ", not by the daemon's uid ", owner));
  }
  if ((st.st_mode & 077) != 0) {
    return Refused(
        path, what,
        absl::StrFormat("has mode 0%o, not 0600 (others may read or write it)", st.st_mode & 0777));
  }
  if (st.st_nlink != 1) {
    return Refused(path, what, absl::StrCat("has ", st.st_nlink, " hard links"));
  }
  if (st.st_size > kMaxStatusFileSize) {
    return Refused(path, what, absl::StrCat("is ", st.st_size, " bytes long"));
  }
  // A snapshot read while no write was under way (the same even sequence
  // number before and after); a writer mid-way: read again.
  for (int attempt = 0; attempt < 8; ++attempt) {
    absl::StatusOr<std::string> bytes = PreadAll(fd->get());
    if (!bytes.ok()) return bytes.status();
    uint64_t header[2], after = 0;
    if (bytes->size() < sizeof(header)) {
      return absl::DataLossError(absl::StrCat(what, " ", path, " is too short"));
    }
    memcpy(header, bytes->data(), sizeof(header));
    if (pread(fd->get(), &after, sizeof(after), 0) != sizeof(after)) {
      return ErrnoStatus(errno, absl::StrCat("cannot read ", what, " ", path));
    }
    if (header[0] % 2 == 1 || after != header[0]) continue;
    if (header[1] > bytes->size() - sizeof(header)) {
      return absl::DataLossError(absl::StrCat(what, " ", path, " is truncated"));
    }
    return bytes->substr(sizeof(header), header[1]);
  }
  return absl::UnavailableError(absl::StrCat(what, " ", path, " kept changing while read"));
}

}  // namespace appkit
