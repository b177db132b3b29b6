#include "common/process/notify_state.h"

namespace appkit {

NotifyState ParseNotifyState(const NotifySocket::Message& message) {
  NotifyState state;
  for (const auto& [key, value] : message.fields) {
    if (key == "READY") {
      state.ready = value == "1";
    } else if (key == "WATCHDOG") {
      state.watchdog = value == "1";
    } else if (key == "STOPPING") {
      state.stopping = value == "1";
    } else if (key == "STATUS") {
      state.status = value.substr(0, kMaxNotifyStatus);
    }
  }
  return state;
}

}  // namespace appkit
