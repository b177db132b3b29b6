#include "common/host/supervisor_report.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "proto/wire.h"

namespace appkit::internal {
namespace {

std::atomic<int> g_pipe{-1};
std::mutex g_write_mu;  // frames from two threads never interleave

void WriteFrame(wire::Message kind, std::string_view payload) {
  const int fd = g_pipe.load();
  if (fd < 0) return;
  std::string frame(1, static_cast<char>(kind));
  const uint32_t length = static_cast<uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) frame.push_back(static_cast<char>((length >> (8 * i)) & 0xff));
  frame.append(payload);
  std::lock_guard<std::mutex> lock(g_write_mu);
  size_t done = 0;
  while (done < frame.size()) {
    const ssize_t n = write(fd, frame.data() + done, frame.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

}  // namespace

std::string CapError(std::string_view text) {
  if (text.size() <= kMaxErrorBytes) return std::string(text);
  size_t cut = kMaxErrorBytes - 3;
  // Back to the start of a UTF-8 sequence.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "...";
}

void SetSupervisorPipe(int fd) { g_pipe.store(fd); }

void ReportEntryError(std::string_view error) {
  WriteFrame(wire::Message::kEntryError, CapError(error));
}

void ReportStopBudget(absl::Duration budget) {
  WriteFrame(wire::Message::kStopBudget, absl::StrCat(absl::ToInt64Milliseconds(budget)));
}

void SendEntryErrorPacket(int channel, std::string_view error) {
  std::string packet(1, static_cast<char>(wire::Message::kEntryError));
  packet.append(CapError(error));
  ssize_t n;
  do {
    n = send(channel, packet.data(), packet.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
}

void DecodeReports(std::string& buffer, SupervisorReport& out) {
  size_t at = 0;
  while (buffer.size() - at >= 5) {
    uint32_t length = 0;
    for (int i = 0; i < 4; ++i) {
      length |= static_cast<uint32_t>(static_cast<unsigned char>(buffer[at + 1 + i])) << (8 * i);
    }
    if (buffer.size() - at - 5 < length) break;  // the rest comes later
    const auto kind = static_cast<wire::Message>(buffer[at]);
    const std::string payload = buffer.substr(at + 5, length);
    if (kind == wire::Message::kEntryError) {
      out.error = CapError(payload);
    } else if (kind == wire::Message::kStopBudget) {
      int64_t ms = 0;
      if (absl::SimpleAtoi(payload, &ms) && ms >= 0) out.stop_budget = absl::Milliseconds(ms);
    } else if (kind == wire::Message::kReady) {
      out.ready = true;
    }
    at += 5 + length;
  }
  buffer.erase(0, at);
}

}  // namespace appkit::internal
