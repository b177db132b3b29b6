// The DaemonLaunch message a guardian starts from, built from checked
// DaemonOptions: shared by StartDaemon (detached) and RunDaemon
// (foreground, client/run_daemon.cc). Errors name the option at fault;
// nothing is started or created.
#ifndef APPKIT_CLIENT_DAEMON_LAUNCH_H_
#define APPKIT_CLIENT_DAEMON_LAUNCH_H_

#include "absl/status/statusor.h"
#include "client/appkit.h"
#include "proto/launch.pb.h"

namespace appkit::internal {

// Every option but the pid file's (the caller checks it first).
absl::StatusOr<v1::DaemonLaunch> BuildDaemonLaunch(const DaemonOptions& options);

// health_listen: empty, or "host:port" with a port number 1-65535 (IPv6
// hosts in brackets, "[::]:8081").
absl::Status CheckHealthListen(const std::string& value);

}  // namespace appkit::internal

#endif  // APPKIT_CLIENT_DAEMON_LAUNCH_H_
