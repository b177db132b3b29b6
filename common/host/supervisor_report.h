// What the process running an entry tells its supervisor beyond its exit
// status (SPEC §8): the error the entry returned, and how long a pool in it
// needs to stop. Both ends of the wire format live here (proto/wire.h
// names the fds):
//
//   executor -> guardian, on the readiness pipe wire::kExecutorReadyFd,
//     after wire::Message::kEntryRunning: frames of
//     [kind: 1 byte][length: 4 bytes, little-endian][payload], kind one of
//     wire::Message::kEntryError (payload: the text) and
//     wire::Message::kStopBudget (payload: milliseconds, decimal) and
//     wire::Message::kReady (no payload: NotifyReady(), with a
//     ready_timeout; common/runtime/supervision.cc writes it);
//   worker -> controller, on its channel (SOCK_SEQPACKET): one packet
//     [wire::Message::kEntryError][the text].
//
// The text is capped at kMaxErrorBytes. Writers never block (a full pipe
// or socket drops the report: the exit status still tells the failure).
#ifndef APPKIT_COMMON_HOST_SUPERVISOR_REPORT_H_
#define APPKIT_COMMON_HOST_SUPERVISOR_REPORT_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace appkit::internal {

inline constexpr size_t kMaxErrorBytes = 4096;

// `text` cut to kMaxErrorBytes (at a UTF-8 boundary, "..." marking the cut).
std::string CapError(std::string_view text);

// The executor: its readiness pipe, once the entry runs (-1: none, as in
// a worker or a plain program).
void SetSupervisorPipe(int fd);
// Frames on that pipe; nothing without one.
void ReportEntryError(std::string_view error);
// StartWorkers in this process: the pool stops within `budget` (its
// stop_timeout plus its own wind-down; zero without a stop_timeout); the
// guardian waits that long, and knows a pool ran in this executor.
void ReportStopBudget(absl::Duration budget);

// The worker: one kEntryError packet on `channel`.
void SendEntryErrorPacket(int channel, std::string_view error);

// The guardian's side: frames decoded from the bytes read so far (what
// is decoded is removed from `buffer`).
struct SupervisorReport {
  std::optional<std::string> error;
  std::optional<absl::Duration> stop_budget;
  bool ready = false;  // a kReady frame (NotifyReady, written by common/runtime)
};
void DecodeReports(std::string& buffer, SupervisorReport& out);

}  // namespace appkit::internal

#endif  // APPKIT_COMMON_HOST_SUPERVISOR_REPORT_H_
