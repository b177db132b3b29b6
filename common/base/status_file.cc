#include "common/base/status_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
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

std::string TempTemplate(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  return absl::StrCat(DirName(path), "/.", base, ".tmp-XXXXXX");
}

}  // namespace

StatusFileWriter::StatusFileWriter(std::string path, std::string what)
    : path_(std::move(path)), what_(std::move(what)), temp_template_(TempTemplate(path_)) {}

absl::StatusOr<std::unique_ptr<StatusFileWriter>> StatusFileWriter::Create(
    const std::string& path, const std::string& what) {
  if (absl::Status trusted = CheckTrustedDirectory(DirName(path), absl::StrCat(what, " ", path));
      !trusted.ok()) {
    return trusted;
  }
  struct stat st;
  if (lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    return Refused(path, what, "is " + FileTypeName(st.st_mode));
  }
  return std::unique_ptr<StatusFileWriter>(new StatusFileWriter(path, what));
}

StatusFileWriter::~StatusFileWriter() {
  if (written_) unlink(path_.c_str());
}

absl::Status StatusFileWriter::Write(std::string content) {
  if (written_ && content == last_) return absl::OkStatus();
  // O_EXCL under a random name in a directory only we or root can change
  // (checked by Create): nothing planted can be opened instead.
  std::string temp = temp_template_;
  UniqueFd fd(mkostemp(temp.data(), O_CLOEXEC));  // mode 0600
  if (!fd) {
    return ErrnoStatus(errno, absl::StrCat("cannot write ", what_, " ", path_,
                                           " (temporary file in ", DirName(path_), ")"));
  }
  absl::Status written = WriteAll(fd.get(), content);
  fd.reset();
  if (written.ok() && rename(temp.c_str(), path_.c_str()) != 0) {
    written = ErrnoStatus(errno, absl::StrCat("cannot rename ", temp, " to ", what_, " ", path_));
  }
  if (!written.ok()) {
    unlink(temp.c_str());
    return written;
  }
  written_ = true;
  last_ = std::move(content);
  return absl::OkStatus();
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
  return ReadAll(fd->get());
}

}  // namespace appkit
