// sd_notify, both ends (systemd's protocol, which servers already speak).
//
// NotifySocket is the supervisor's end: a datagram socket in the abstract
// namespace ("@appkit-notify-<pid>-<n>", given to children as
// NOTIFY_SOCKET) with SO_PASSCRED, so each datagram carries its sender's
// pid. The abstract namespace has no permissions (anyone may send), so
// the owner accepts a message only from the supervised process or one of
// its descendants (IsSameOrDescendant), as systemd does; fds passed along
// (FDSTORE) are closed, never kept. Datagrams are at most 4 KiB.
//
// NotifyOwnManager is the other end: what the foreground supervisor sends
// to *its* manager (systemd) when NOTIFY_SOCKET is set in its environment.
// Not thread-safe (one owner thread, its loop).
#ifndef APPKIT_COMMON_NOTIFY_SOCKET_H_
#define APPKIT_COMMON_NOTIFY_SOCKET_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/base/unique_fd.h"

namespace appkit {

class NotifySocket {
 public:
  static absl::StatusOr<std::unique_ptr<NotifySocket>> Create();

  // NOTIFY_SOCKET's value for children ("@appkit-notify-...").
  const std::string& address() const { return address_; }
  int fd() const { return fd_.get(); }

  struct Message {
    pid_t sender = 0;
    std::map<std::string, std::string> fields;  // READY=1 -> {"READY", "1"}
  };
  // Every datagram waiting (never blocks). Malformed lines are skipped.
  std::vector<Message> ReadPending();

 private:
  NotifySocket(UniqueFd fd, std::string address)
      : fd_(std::move(fd)), address_(std::move(address)) {}
  UniqueFd fd_;
  std::string address_;
};

// Whether `pid` is `ancestor` or one of its descendants (the parent chain
// in /proc, at most 64 levels).
bool IsSameOrDescendant(pid_t pid, pid_t ancestor);

// Sends `state` ("READY=1", "STOPPING=1\nSTATUS=...") to $NOTIFY_SOCKET
// when it is set; OK and nothing sent when it is not.
absl::Status NotifyOwnManager(const std::string& state);

}  // namespace appkit

#endif  // APPKIT_COMMON_NOTIFY_SOCKET_H_
