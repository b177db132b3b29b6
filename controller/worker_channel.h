// The controller's end of a worker's control channel: a SOCK_SEQPACKET
// socketpair, one byte per message (wire::Message, proto/wire.h). The
// worker's end is its fd wire::kWorkerChannelFd (worker/run_worker.h).
//
//   worker -> controller: kEntryRunning (the entry is loaded; a command
//                         worker's carries its pid file's locked fd), kPong,
//                         kEntryError + text (why it failed or could not
//                         start: common/host/supervisor_report.h)
//   controller -> worker: kQuit, kRewritePidFile, kPing
//
// EOF on either end means the other is gone. Nothing here blocks: the
// controller's loop watches its end and reads a message at a time.
#ifndef APPKIT_CONTROLLER_WORKER_CHANNEL_H_
#define APPKIT_CONTROLLER_WORKER_CHANNEL_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/base/unique_fd.h"
#include "proto/wire.h"

namespace appkit::controller {

struct WorkerChannel {
  UniqueFd ours;    // the controller's end (close-on-exec)
  UniqueFd theirs;  // to install as the worker's wire::kWorkerChannelFd
};

absl::StatusOr<WorkerChannel> MakeWorkerChannel();

// Sends one message without waiting; false when the worker is gone, or
// stopped reading long enough for its socket buffer to fill. -1 is no
// channel, and false.
bool SendToWorker(int channel, wire::Message message);

// One message from the worker, without waiting.
struct FromWorker {
  enum Kind { kMessage, kNothing, kClosed } kind;
  wire::Message message = wire::Message::kPong;  // kMessage only
  std::string text;                              // kEntryError's payload
  UniqueFd fd;  // an fd that came with it (a command worker's kEntryRunning: its pid file)
};
FromWorker ReceiveFromWorker(int channel);

}  // namespace appkit::controller

#endif  // APPKIT_CONTROLLER_WORKER_CHANNEL_H_
