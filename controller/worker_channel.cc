#include "controller/worker_channel.h"

#include <errno.h>
#include <sys/socket.h>

#include <vector>

#include "common/base/errno_status.h"
#include "common/base/fd_io.h"

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
  // Whatever came with it is ours to close, message or not: one fd per
  // message is kept, more are not ours to keep.
  std::vector<UniqueFd> fds;
  if (n >= 0) fds = TakeReceivedFds(header);
  if (n <= 0) return {FromWorker::kClosed};  // EOF, or a broken channel
  FromWorker got{FromWorker::kMessage, static_cast<wire::Message>(packet[0])};
  if (got.message == wire::Message::kEntryError) got.text.assign(packet + 1, n - 1);
  if (!fds.empty()) got.fd = std::move(fds.front());
  return got;
}

}  // namespace appkit::controller
