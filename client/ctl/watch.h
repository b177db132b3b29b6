// `appkitctl watch`: follows a running daemon's Guardian.Watch stream
// (SPEC §9), and with `workers` its pool's Controller.Watch stream too,
// printing one line per message as it comes, until the stream ends (the
// daemon stopped: exit 0), or SIGINT or SIGTERM (exit 0).
//
// Lines (human): the snapshot first, as one SNAPSHOT line for the executor
// (and one per worker), then one line per event:
//   TIME (UTC, ms)  SUBJECT  KIND  STATE  PID  DESCRIPTION[: ERROR]
// With `json`: one JSON object per line, the stream's message (GuardianEvent
// or ControllerEvent in protobuf's JSON mapping, pids as numbers) with
// "stream": "daemon" or "workers" first.
//
// Errors, on stderr, in words: not running (exit 3); no pool for
// `workers`, a watcher that fell behind (RESOURCE_EXHAUSTED: the server
// cut it), a lost connection (exit 1). When the pool's stream ends while
// the daemon runs on (its executor was restarted), a line on stderr says
// so and the daemon's stream goes on.
#ifndef APPKIT_CLIENT_CTL_WATCH_H_
#define APPKIT_CLIENT_CTL_WATCH_H_

#include <string>

#include "client/ctl/daemon_client.h"
#include "proto/controller.pb.h"
#include "proto/event.pb.h"
#include "proto/guardian.pb.h"

namespace appkit::ctl {

int Watch(const Target& target, bool json, bool workers);

// The human lines (exposed for tests).
std::string EventLine(const v1::Event& event);
std::string SnapshotLine(const v1::GuardianStatus& status);
std::string WorkerSnapshotLine(const v1::WorkerStatus& worker);

}  // namespace appkit::ctl

#endif  // APPKIT_CLIENT_CTL_WATCH_H_
