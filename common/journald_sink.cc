#include "common/journald_sink.h"

#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>

namespace appkit {
namespace {

int SyslogPriority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return 7;
    case spdlog::level::info:
      return 6;
    case spdlog::level::warn:
      return 4;
    case spdlog::level::err:
      return 3;
    case spdlog::level::critical:
      return 2;
    default:
      return 6;
  }
}

// KEY=value\n, or for a value with a newline the binary form:
// KEY\n<little-endian 64-bit length><value>\n.
void AppendField(std::string& datagram, const char* key, spdlog::string_view_t value) {
  const std::string_view text(value.data(), value.size());
  datagram += key;
  if (text.find('\n') == std::string_view::npos) {
    datagram += '=';
    datagram.append(text);
  } else {
    datagram += '\n';
    uint64_t size = text.size();
    for (int i = 0; i < 8; ++i) datagram += static_cast<char>((size >> (8 * i)) & 0xff);
    datagram.append(text);
  }
  datagram += '\n';
}

}  // namespace

JournaldSink::JournaldSink(std::string identifier, std::string socket_path)
    : identifier_(std::move(identifier)),
      socket_path_(std::move(socket_path)),
      fd_(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {}

void JournaldSink::sink_it_(const spdlog::details::log_msg& msg) {
  if (!fd_) return;
  std::string datagram;
  AppendField(datagram, "MESSAGE", msg.payload);
  datagram += "PRIORITY=" + std::to_string(SyslogPriority(msg.level)) + "\n";
  AppendField(datagram, "SYSLOG_IDENTIFIER",
              spdlog::string_view_t(identifier_.data(), identifier_.size()));
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (socket_path_.size() >= sizeof(addr.sun_path)) return;
  memcpy(addr.sun_path, socket_path_.data(), socket_path_.size());
  (void)sendto(fd_.get(), datagram.data(), datagram.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
               reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
}

}  // namespace appkit
