#include "common/runtime/supervision.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>

namespace appkit {
namespace {

std::atomic<int> g_ready_fd{-1};
char g_ready_message[8];
std::atomic<size_t> g_ready_length{0};
std::atomic<bool> g_ready_sent{false};

// The process's slot, once attached.
std::atomic<std::atomic<int64_t>*> g_slot{nullptr};

}  // namespace

void NotifyReady() {
  const int fd = g_ready_fd.load(std::memory_order_acquire);
  if (fd < 0 || g_ready_sent.exchange(true)) return;
  const size_t length = g_ready_length.load(std::memory_order_acquire);
  ssize_t n;
  do {
    n = send(fd, g_ready_message, length, MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = write(fd, g_ready_message, length);
  } while (n < 0 && errno == EINTR);
}

void Heartbeat() { internal::BeatHeart(); }

namespace internal {

void SetReadyChannel(int fd, std::string_view message) {
  const size_t length = std::min(message.size(), sizeof(g_ready_message));
  std::memcpy(g_ready_message, message.data(), length);
  g_ready_length.store(length, std::memory_order_release);
  g_ready_sent.store(false);
  g_ready_fd.store(fd, std::memory_order_release);
}

int64_t MonotonicNanos() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  return static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

absl::Status AttachHeartbeat(int fd, int slot) {
  if (slot < 0) return absl::InvalidArgumentError("heartbeat slot " + std::to_string(slot));
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t end = (static_cast<size_t>(slot) + 1) * kHeartbeatSlotBytes;
  const size_t bytes = (end + page - 1) / page * page;
  void* map = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    return absl::InternalError(std::string("mmap of the heartbeat table: ") + strerror(errno));
  }
  g_slot.store(
      reinterpret_cast<std::atomic<int64_t>*>(static_cast<char*>(map) + slot * kHeartbeatSlotBytes),
      std::memory_order_release);
  BeatHeart();
  return absl::OkStatus();
}

void BeatHeart() {
  std::atomic<int64_t>* slot = g_slot.load(std::memory_order_acquire);
  if (slot != nullptr) slot->store(MonotonicNanos(), std::memory_order_relaxed);
}

void BeatHeartUntil(int64_t monotonic_nanos) {
  std::atomic<int64_t>* slot = g_slot.load(std::memory_order_acquire);
  if (slot != nullptr) slot->store(monotonic_nanos, std::memory_order_relaxed);
}

}  // namespace internal
}  // namespace appkit
