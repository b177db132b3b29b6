// Whole-buffer reads and writes on file descriptors (retrying EINTR and
// short transfers), and packets sent and received with fds attached. Opening files safely is
// common/base/safe_file.h.
#ifndef APPKIT_COMMON_FD_IO_H_
#define APPKIT_COMMON_FD_IO_H_

#include <sys/socket.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/base/unique_fd.h"

namespace appkit {

// Reads until EOF.
absl::StatusOr<std::string> ReadAll(int fd);
// Reads from offset 0 to EOF with pread: the file offset, which a shared
// open file (a memfd passed to a child) has in common, is left alone.
absl::StatusOr<std::string> PreadAll(int fd);
absl::Status WriteAll(int fd, std::string_view data);
// One datagram or packet `data` on `socket` with `fds` attached
// (SCM_RIGHTS, at most 16), retrying EINTR, without SIGPIPE: whether it
// was sent whole.
bool SendWithFds(int socket, std::string_view data, std::initializer_list<int> fds);
// The fds a recvmsg() put in `message` (SCM_RIGHTS, every control
// message), owned: whichever the caller does not keep is closed with its
// UniqueFd. Receive with MSG_CMSG_CLOEXEC.
std::vector<UniqueFd> TakeReceivedFds(msghdr& message);

}  // namespace appkit

#endif  // APPKIT_COMMON_FD_IO_H_
