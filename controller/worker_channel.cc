#include "controller/worker_channel.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "common/base/errno_status.h"

namespace appkit::controller {

absl::StatusOr<WorkerChannel> MakeWorkerChannel() {
  int ends[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) {
    return ErrnoStatus(errno, "socketpair for a worker channel");
  }
  return WorkerChannel{UniqueFd(ends[0]), UniqueFd(ends[1])};
}

bool SendToWorker(int channel, wire::Message message) {
  if (channel < 0) return false;
  const char byte = static_cast<char>(message);
  ssize_t n;
  do {
    n = send(channel, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  return n == 1;
}

FromWorker ReceiveFromWorker(int channel) {
  // One packet: a byte, or kEntryError and its text (capped by the worker),
  // with at most one fd.
  char packet[1 + 4096 + 64];
  iovec data = {packet, sizeof(packet)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr header = {};
  header.msg_iov = &data;
  header.msg_iovlen = 1;
  ssize_t n;
  do {
    header.msg_control = control;
    header.msg_controllen = sizeof(control);
    n = recvmsg(channel, &header, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) return {FromWorker::kNothing};
  // Whatever came with it is ours to close, message or not.
  UniqueFd fd;
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&header); n >= 0 && cmsg != nullptr;
       cmsg = CMSG_NXTHDR(&header, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int received;
      memcpy(&received, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
      if (!fd) {
        fd.reset(received);
      } else {
        close(received);  // one fd per message; more is not ours to keep
      }
    }
  }
  if (n <= 0) return {FromWorker::kClosed};  // EOF, or a broken channel
  FromWorker got{FromWorker::kMessage, static_cast<wire::Message>(packet[0])};
  if (got.message == wire::Message::kEntryError) got.text.assign(packet + 1, n - 1);
  got.fd = std::move(fd);
  return got;
}

}  // namespace appkit::controller
