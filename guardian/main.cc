// The guardian binary: started by StartDaemon (never by hand) with a
// DaemonLaunch message on wire::kGuardianLaunchFd, the readiness pipe on
// wire::kGuardianReadyFd and, on wire::kGuardianForkServerFd, the socket
// of the executor fork server StartDaemon started next to it
// (ForkServer::PrepareCompanion).
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/base/fd_io.h"
#include "common/base/fd_limit.h"
#include "common/process/fork_server.h"
#include "common/process/process_title.h"
#include "guardian/guardian.h"
#include "proto/launch.pb.h"
#include "proto/wire.h"

int main(int argc, char** argv) {
  namespace wire = appkit::wire;
  appkit::InitProcessTitle(argc, argv);
  // Room for gRPC and its clients whatever StartDaemon's caller had (it
  // checked the hard limit); the entry gets the caller's (user_fd_limit).
  appkit::RaiseFdSoftLimit();
  auto data = appkit::ReadAll(wire::kGuardianLaunchFd);
  close(wire::kGuardianLaunchFd);
  appkit::v1::DaemonLaunch launch;
  if (!data.ok() || !launch.ParseFromString(*data)) {
    appkit::v1::GuardianReady ready;
    ready.set_error(absl::StrCat("guardian: no valid launch message on fd ",
                                 wire::kGuardianLaunchFd, " (start it with StartDaemon)"));
    (void)appkit::WriteAll(wire::kGuardianReadyFd, ready.SerializeAsString());
    return 2;
  }
  appkit::SetProcessTitle("appkit-guardian " + launch.name(), "appkit-guardian");
  appkit::guardian::Guardian guardian(std::move(launch),
                                      appkit::ForkServer::Adopt(wire::kGuardianForkServerFd));
  return guardian.Run(wire::kGuardianReadyFd);
}
