#include "common/base/fd_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/base/errno_status.h"

namespace appkit {

absl::StatusOr<std::string> ReadAll(int fd) {
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n == 0) return data;
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read");
    }
    data.append(buf, n);
  }
}

absl::StatusOr<std::string> PreadAll(int fd) {
  std::string data;
  char chunk[65536];
  for (off_t offset = 0;;) {
    ssize_t n = pread(fd, chunk, sizeof(chunk), offset);
    if (n == 0) return data;
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "pread");
    }
    data.append(chunk, n);
    offset += n;
  }
}

absl::Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "write");
    }
    data.remove_prefix(n);
  }
  return absl::OkStatus();
}

}  // namespace appkit
