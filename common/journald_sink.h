// JournaldSink: log lines to systemd's journal through its native protocol
// (one datagram per line to /run/systemd/journal/socket, fields MESSAGE,
// PRIORITY and SYSLOG_IDENTIFIER; the journal adds _PID and the rest from
// the sender's credentials). Written here rather than linking libsystemd,
// whose dozen shared libraries every appkit process would load at start.
// A journal that is not there loses the line silently, as sd_journal_send
// does. Thread-safe (spdlog's sink mutex).
#ifndef APPKIT_COMMON_JOURNALD_SINK_H_
#define APPKIT_COMMON_JOURNALD_SINK_H_

#include <mutex>
#include <string>

#include "common/unique_fd.h"
#include "spdlog/sinks/base_sink.h"

namespace appkit {

class JournaldSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // `socket_path`: the journal's socket (tests give their own).
  explicit JournaldSink(std::string identifier,
                        std::string socket_path = "/run/systemd/journal/socket");

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override {}

 private:
  const std::string identifier_;
  const std::string socket_path_;
  UniqueFd fd_;
};

}  // namespace appkit

#endif  // APPKIT_COMMON_JOURNALD_SINK_H_
