// Test helpers for what a broken or hostile client does to a gRPC server
// on a Unix socket, below gRPC: plain connections, and a raw HTTP/2 client
// that opens any number of streams, never reads a byte (so it never
// acknowledges the server's settings, the stream limit among them, and
// never opens a flow-control window) and may announce a window of 0.
#ifndef APPKIT_TESTING_RAW_HTTP2_H_
#define APPKIT_TESTING_RAW_HTTP2_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace appkit::testing {

// A connected AF_UNIX stream socket, or -1.
int ConnectUnix(const std::string& path, bool nonblocking = false);

// True when the server hung up on `fd` within `timeout` (EOF or reset);
// whatever it sent before is read and dropped.
bool ClosedByServer(int fd, absl::Duration timeout = absl::Seconds(5));

class RawHttp2 {
 public:
  // Connects and sends the client preface and SETTINGS (no push, the given
  // initial window), and nothing more.
  explicit RawHttp2(const std::string& socket, uint32_t initial_window = 65535);
  ~RawHttp2();
  RawHttp2(const RawHttp2&) = delete;
  RawHttp2& operator=(const RawHttp2&) = delete;

  bool ok() const { return ok_; }
  int fd() const { return fd_; }

  // Opens stream `id` (odd, increasing) calling `method` with one message
  // (`message`: serialized); ends the stream unless `end` is false.
  bool Call(uint32_t id, const std::string& method, const std::string& message = "",
            bool end = true);

  // Writes it all, or gives up after 2 s without progress (the server
  // stopped reading).
  bool Send(const std::string& bytes);

 private:
  int fd_;
  bool ok_ = false;
};

}  // namespace appkit::testing

#endif  // APPKIT_TESTING_RAW_HTTP2_H_
