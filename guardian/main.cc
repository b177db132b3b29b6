// The guardian binary: started by StartDaemon (never by hand) with a
// DaemonLaunch message on fd 3, the readiness pipe on fd 4 and, on fd 5,
// the socket of the executor fork server StartDaemon started next to it
// (ForkServer::PrepareCompanion).
#include <unistd.h>

#include "common/base/fd_io.h"
#include "common/base/fd_limit.h"
#include "common/process/fork_server.h"
#include "guardian/guardian.h"
#include "proto/launch.pb.h"

int main() {
  // Room for gRPC and its clients whatever StartDaemon's caller had (it
  // checked the hard limit); the entry gets the caller's (user_fd_limit).
  appkit::RaiseFdSoftLimit();
  auto data = appkit::ReadAll(3);
  close(3);
  appkit::v1::DaemonLaunch launch;
  if (!data.ok() || !launch.ParseFromString(*data)) {
    appkit::v1::GuardianReady ready;
    ready.set_error("guardian: no valid launch message on fd 3 (start it with StartDaemon)");
    (void)appkit::WriteAll(4, ready.SerializeAsString());
    return 2;
  }
  appkit::guardian::Guardian guardian(std::move(launch), appkit::ForkServer::Adopt(5));
  return guardian.Run(4);
}
