// Heartbeats without a syscall: the watchdog's shared memory.
//
// A supervisor that watches processes (the guardian its executor, the
// controller its workers) creates a HeartbeatTable: one memfd of slots, one
// slot per watched process, mapped by the supervisor and by each child (the
// child gets the memfd as an fd and its slot number). The child's
// Heartbeat() stores the CLOCK_MONOTONIC_COARSE time into its slot: a vDSO
// clock read and an atomic store, no syscall. The supervisor reads the slot when
// its timer fires (at the last beat + watchdog_timeout) and decides.
//
// Slots are cache-line sized (no false sharing between workers). The
// supervisor writes a slot only before the child starts (Reset).
// Thread-safe: a slot's beat is one atomic. The child's side (attach, beat)
// is the runtime's (common/runtime/supervision.h: internal::AttachHeartbeat),
// since modules call Heartbeat() in the host binary's copy.
#ifndef APPKIT_COMMON_HEARTBEAT_H_
#define APPKIT_COMMON_HEARTBEAT_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/base/unique_fd.h"

namespace appkit {

// The heartbeat clock now, as nanoseconds: CLOCK_MONOTONIC_COARSE, the
// clock the children beat with (common/runtime/supervision.h; vDSO, no
// syscall; a resolution of one kernel tick).
int64_t MonotonicNanos();

class HeartbeatTable {
 public:
  static absl::StatusOr<std::unique_ptr<HeartbeatTable>> Create(int slots);
  ~HeartbeatTable();
  HeartbeatTable(const HeartbeatTable&) = delete;
  HeartbeatTable& operator=(const HeartbeatTable&) = delete;

  // The memfd to hand to children (close-on-exec here; install it in the
  // child with the fork request).
  int fd() const { return fd_.get(); }
  int slots() const { return slots_; }

  // Before a child starts in `slot`: its beat is "now" (its start counts
  // as a beat).
  void Reset(int slot);
  // The monotonic time of the slot's last beat, in nanoseconds.
  int64_t LastBeat(int slot) const;

 private:
  HeartbeatTable(UniqueFd fd, void* map, int slots)
      : fd_(std::move(fd)), map_(map), slots_(slots) {}
  std::atomic<int64_t>* Slot(int slot) const;

  UniqueFd fd_;
  void* map_;
  int slots_;
};

}  // namespace appkit

#endif  // APPKIT_COMMON_HEARTBEAT_H_
