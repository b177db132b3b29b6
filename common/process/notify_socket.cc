#include "common/process/notify_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/base/errno_status.h"
#include "common/base/fd_io.h"

namespace appkit {
namespace {

constexpr size_t kMaxDatagram = 4096;

// sockaddr for "@name" (abstract) or a path; its length.
absl::StatusOr<socklen_t> AddressOf(const std::string& address, sockaddr_un* addr) {
  *addr = {};
  addr->sun_family = AF_UNIX;
  if (address.empty() || address.size() >= sizeof(addr->sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("NOTIFY_SOCKET '", address, "' is not usable"));
  }
  memcpy(addr->sun_path, address.data(), address.size());
  if (address[0] == '@') addr->sun_path[0] = '\0';
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size() +
                                (address[0] == '@' ? 0 : 1));
}

pid_t ParentOf(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t paren = content.rfind(')');
  if (paren == std::string::npos) return 0;
  std::vector<std::string> fields = absl::StrSplit(content.substr(paren + 2), ' ');
  int parent = 0;
  if (fields.size() > 1) (void)absl::SimpleAtoi(fields[1], &parent);
  return parent;
}

}  // namespace

absl::StatusOr<std::unique_ptr<NotifySocket>> NotifySocket::Create() {
  static std::atomic<int> serial{0};
  UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return ErrnoStatus(errno, "socket for NOTIFY_SOCKET");
  int on = 1;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) != 0) {
    return ErrnoStatus(errno, "SO_PASSCRED on NOTIFY_SOCKET");
  }
  const std::string address = absl::StrCat("@appkit-notify-", getpid(), "-", serial++);
  sockaddr_un addr;
  absl::StatusOr<socklen_t> length = AddressOf(address, &addr);
  if (!length.ok()) return length.status();
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), *length) != 0) {
    return ErrnoStatus(errno, "cannot bind NOTIFY_SOCKET " + address);
  }
  return std::unique_ptr<NotifySocket>(new NotifySocket(std::move(fd), address));
}

std::vector<NotifySocket::Message> NotifySocket::ReadPending() {
  std::vector<Message> messages;
  for (;;) {
    char data[kMaxDatagram + 1];
    union {
      char buffer[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int) * 16)];
      cmsghdr align;
    } control;
    iovec iov = {data, kMaxDatagram};
    msghdr header = {};
    header.msg_iov = &iov;
    header.msg_iovlen = 1;
    header.msg_control = control.buffer;
    header.msg_controllen = sizeof(control.buffer);
    ssize_t n = recvmsg(fd_.get(), &header, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
    if (n < 0) {
      if (errno == EINTR) continue;
      return messages;  // EAGAIN: nothing more
    }
    Message message;
    for (cmsghdr* cmsg = CMSG_FIRSTHDR(&header); cmsg != nullptr;
         cmsg = CMSG_NXTHDR(&header, cmsg)) {
      if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_CREDENTIALS) {
        ucred cred;
        memcpy(&cred, CMSG_DATA(cmsg), sizeof(cred));
        message.sender = cred.pid;
      }
    }
    (void)TakeReceivedFds(header);  // FDSTORE: not kept (closed here)
    if (static_cast<size_t>(n) > kMaxDatagram || message.sender <= 0) continue;  // truncated
    for (absl::string_view line : absl::StrSplit(absl::string_view(data, n), '\n')) {
      const size_t eq = line.find('=');
      if (eq == absl::string_view::npos || eq == 0) continue;
      message.fields[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
    }
    if (!message.fields.empty()) messages.push_back(std::move(message));
  }
}

bool IsSameOrDescendant(pid_t pid, pid_t ancestor) {
  for (int level = 0; level < 64 && pid > 1; ++level) {
    if (pid == ancestor) return true;
    pid = ParentOf(pid);
  }
  return false;
}

absl::Status NotifyOwnManager(const std::string& state) {
  const char* address = getenv("NOTIFY_SOCKET");
  if (address == nullptr || *address == '\0') return absl::OkStatus();
  sockaddr_un addr;
  absl::StatusOr<socklen_t> length = AddressOf(address, &addr);
  if (!length.ok()) return length.status();
  UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoStatus(errno, "socket for NOTIFY_SOCKET");
  if (sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
             *length) < 0) {
    return ErrnoStatus(errno, absl::StrCat("cannot notify ", address));
  }
  return absl::OkStatus();
}

}  // namespace appkit
