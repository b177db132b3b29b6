#include "testing/raw_http2.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <utility>
#include <vector>

#include "absl/time/clock.h"

namespace appkit::testing {
namespace {

std::string Frame(uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload) {
  std::string frame(9, '\0');
  frame[0] = static_cast<char>(payload.size() >> 16);
  frame[1] = static_cast<char>(payload.size() >> 8);
  frame[2] = static_cast<char>(payload.size());
  frame[3] = static_cast<char>(type);
  frame[4] = static_cast<char>(flags);
  for (int i = 0; i < 4; ++i) frame[5 + i] = static_cast<char>(stream >> (24 - 8 * i));
  return frame + payload;
}

void AppendSetting(std::string& out, uint16_t id, uint32_t value) {
  out += static_cast<char>(id >> 8);
  out += static_cast<char>(id);
  for (int i = 0; i < 4; ++i) out += static_cast<char>(value >> (24 - 8 * i));
}

// An HPACK string literal (no Huffman): 7-bit-prefix length, then bytes.
void AppendString(std::string& out, const std::string& s) {
  size_t n = s.size();
  if (n < 127) {
    out += static_cast<char>(n);
  } else {
    out += static_cast<char>(127);
    for (n -= 127; n >= 128; n >>= 7) out += static_cast<char>((n & 127) | 128);
    out += static_cast<char>(n);
  }
  out += s;
}

}  // namespace

int ConnectUnix(const std::string& path, bool nonblocking) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) return -1;
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool ClosedByServer(int fd, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    pollfd wait = {fd, POLLIN, 0};
    int left = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (left <= 0 || poll(&wait, 1, left) != 1) return false;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
  }
}

RawHttp2::RawHttp2(const std::string& socket, uint32_t initial_window) : fd_(ConnectUnix(socket)) {
  std::string settings;
  AppendSetting(settings, 0x2, 0);  // ENABLE_PUSH
  AppendSetting(settings, 0x4, initial_window);
  ok_ = fd_ >= 0 && Send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + Frame(0x4, 0, 0, settings));
}

RawHttp2::~RawHttp2() {
  if (fd_ >= 0) close(fd_);
}

bool RawHttp2::Call(uint32_t id, const std::string& method, const std::string& message, bool end) {
  std::string headers;
  for (const auto& [name, value] :
       std::vector<std::pair<std::string, std::string>>{{":method", "POST"},
                                                        {":scheme", "http"},
                                                        {":path", method},
                                                        {":authority", "localhost"},
                                                        {"content-type", "application/grpc"},
                                                        {"te", "trailers"}}) {
    headers += '\0';  // a literal header field without indexing, new name
    AppendString(headers, name);
    AppendString(headers, value);
  }
  std::string data(5, '\0');  // uncompressed, then the big-endian length
  for (int i = 0; i < 4; ++i) data[1 + i] = static_cast<char>(message.size() >> (24 - 8 * i));
  return Send(Frame(0x1, 0x4, id, headers) + Frame(0x0, end ? 0x1 : 0, id, data + message));
}

bool RawHttp2::Send(const std::string& bytes) {
  if (fd_ < 0) return false;
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = send(fd_, bytes.data() + done, bytes.size() - done, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      done += n;
      continue;
    }
    if (n < 0 && errno != EAGAIN) return false;
    pollfd wait = {fd_, POLLOUT, 0};
    if (poll(&wait, 1, 2000) != 1) return false;
  }
  return true;
}

}  // namespace appkit::testing
