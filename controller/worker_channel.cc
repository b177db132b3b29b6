#include "controller/worker_channel.h"

#include <errno.h>
#include <sys/socket.h>

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
  // One packet: a byte, or kEntryError and its text (capped by the worker).
  char packet[1 + 4096 + 64];
  ssize_t n;
  do {
    n = recv(channel, packet, sizeof(packet), MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) return {FromWorker::kNothing};
  if (n <= 0) return {FromWorker::kClosed};  // EOF, or a broken channel
  FromWorker got{FromWorker::kMessage, static_cast<wire::Message>(packet[0])};
  if (got.message == wire::Message::kEntryError) got.text.assign(packet + 1, n - 1);
  return got;
}

}  // namespace appkit::controller
