// What one sd_notify datagram (common/process/notify_socket.h) asks of a
// supervisor, in the terms of SPEC §10: READY=1 -> readiness, WATCHDOG=1
// -> a heartbeat, STATUS=... -> the status text, STOPPING=1 -> an event.
// Other fields (MAINPID, RELOADING, ERRNO, FDSTORE, ...) are ignored.
// Pure.
#ifndef APPKIT_COMMON_PROCESS_NOTIFY_STATE_H_
#define APPKIT_COMMON_PROCESS_NOTIFY_STATE_H_

#include <optional>
#include <string>

#include "common/process/notify_socket.h"

namespace appkit {

struct NotifyState {
  bool ready = false;
  bool watchdog = false;
  bool stopping = false;
  std::optional<std::string> status;  // at most kMaxNotifyStatus bytes
};

inline constexpr size_t kMaxNotifyStatus = 1024;

NotifyState ParseNotifyState(const NotifySocket::Message& message);

}  // namespace appkit

#endif  // APPKIT_COMMON_PROCESS_NOTIFY_STATE_H_
