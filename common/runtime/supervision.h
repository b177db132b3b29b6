// What an entry and its options say about supervision (SPEC §8): the
// restart policy a supervisor applies, and the two calls an entry makes to
// say it is ready and alive.
//
// NotifyReady() and Heartbeat() are safe from any thread and do nothing
// in a process that appkit does not supervise with readiness or a
// watchdog. Heartbeat() costs no syscall (a clock read and an atomic
// store); QuitRequested() and Sleep() count as heartbeats. Like quit.h,
// the host binaries export the code and modules bind to it.
#ifndef APPKIT_COMMON_RUNTIME_SUPERVISION_H_
#define APPKIT_COMMON_RUNTIME_SUPERVISION_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace appkit {

// In DaemonOptions and WorkersOptions. The defaults are pyappkit's
// behaviour: a fixed restart_interval and no limit.
struct RestartPolicy {
  double backoff_multiplier = 1.0;  // delay = restart_interval * m^(failures-1): 1 = fixed
  absl::Duration max_delay = absl::Minutes(5);
  double jitter = 0.0;                            // 0..1: each delay varies by up to this fraction
  absl::Duration reset_after = absl::Minutes(1);  // a run this long resets the delay and the count
  int max_restarts = 0;                      // 0: no limit; else more restarts than this within
  absl::Duration within = absl::Minutes(5);  //   `within` -> state FATAL, no more restarts
  std::vector<int> no_restart_exit_codes;    // these exits end supervision like exit 0 does
};

// From the entry: ready to serve (the state leaves STARTING when a
// ready_timeout is set; StartDaemon with wait_ready returns).
void NotifyReady();

// From the entry's thread: alive. Without one for watchdog_timeout the
// process is killed and restarted.
void Heartbeat();

namespace internal {

// The host's side (executor, worker), before the entry runs.

// NotifyReady() sends `message` (at most 8 bytes, in one write: atomic on
// a pipe among the other reports on it) once on `fd` (a pipe or a socket
// to the supervisor, kept open for the process's life). Without a channel
// it does nothing.
void SetReadyChannel(int fd, std::string_view message);

// Beats go to `slot` of the heartbeat table on `fd` (common/process/
// heartbeat.h; mapped here, the fd may be closed afterwards). Until
// attached, Heartbeat() does nothing.
absl::Status AttachHeartbeat(int fd, int slot);

// The beat itself: CLOCK_MONOTONIC_COARSE nanoseconds into the slot (a
// vDSO read of the kernel's tick time, no hardware clock read: ~10-30 ns
// where CLOCK_MONOTONIC costs 100 ns under a hypervisor; its resolution,
// one tick of a few ms, is far below any watchdog_timeout).
void BeatHeart();

// "Alive until `monotonic_nanos`" (Sleep: a thread asleep as asked is not
// hung; the supervisor's timer then fires after the sleep ends).
void BeatHeartUntil(int64_t monotonic_nanos);

// The heartbeat clock now (CLOCK_MONOTONIC_COARSE), as nanoseconds (vDSO:
// no syscall). The supervisor reads the same clock.
int64_t MonotonicNanos();

// A slot of the table: one cache line, so that children never share one.
inline constexpr size_t kHeartbeatSlotBytes = 64;

}  // namespace internal
}  // namespace appkit

#endif  // APPKIT_COMMON_RUNTIME_SUPERVISION_H_
