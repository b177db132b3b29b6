#include "common/process/heartbeat.h"

#include <errno.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/base/errno_status.h"
#include "common/runtime/supervision.h"

namespace appkit {
namespace {

constexpr size_t kSlotBytes = internal::kHeartbeatSlotBytes;  // the runtime maps the same

size_t MapBytes(int slots) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t bytes = static_cast<size_t>(slots) * kSlotBytes;
  return (bytes + page - 1) / page * page;
}

}  // namespace

int64_t MonotonicNanos() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);  // the children's beat clock
  return static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

absl::StatusOr<std::unique_ptr<HeartbeatTable>> HeartbeatTable::Create(int slots) {
  if (slots <= 0) return absl::InvalidArgumentError("a heartbeat table needs a slot");
  UniqueFd fd(memfd_create("appkit-heartbeats", MFD_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, "memfd_create for heartbeats");
  const size_t bytes = MapBytes(slots);
  if (ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0) {
    return ErrnoStatus(errno, "ftruncate of the heartbeat table");
  }
  void* map = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (map == MAP_FAILED) return ErrnoStatus(errno, "mmap of the heartbeat table");
  return std::unique_ptr<HeartbeatTable>(new HeartbeatTable(std::move(fd), map, slots));
}

HeartbeatTable::~HeartbeatTable() { munmap(map_, MapBytes(slots_)); }

std::atomic<int64_t>* HeartbeatTable::Slot(int slot) const {
  return reinterpret_cast<std::atomic<int64_t>*>(static_cast<char*>(map_) + slot * kSlotBytes);
}

void HeartbeatTable::Reset(int slot) {
  Slot(slot)->store(MonotonicNanos(), std::memory_order_relaxed);
}

int64_t HeartbeatTable::LastBeat(int slot) const {
  return Slot(slot)->load(std::memory_order_relaxed);
}

}  // namespace appkit
