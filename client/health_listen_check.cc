// CheckHealthListen (client/daemon_launch.h).
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/daemon_launch.h"

namespace appkit::internal {

absl::Status CheckHealthListen(const std::string& value) {
  if (value.empty()) return absl::OkStatus();
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("health_listen '", value, "': ", why, " (want host:port, e.g. 0.0.0.0:8081)"));
  };
  const size_t colon = value.rfind(':');
  if (colon == std::string::npos) return bad("no port");
  const std::string host = value.substr(0, colon);
  if (host.empty()) return bad("no host");
  if (host.find(':') != std::string::npos && (host.front() != '[' || host.back() != ']')) {
    return bad("an IPv6 host goes in brackets");
  }
  int port = 0;
  if (!absl::SimpleAtoi(value.substr(colon + 1), &port) || port < 1 || port > 65535) {
    return bad("the port is not a number from 1 to 65535");
  }
  return absl::OkStatus();
}

}  // namespace appkit::internal
