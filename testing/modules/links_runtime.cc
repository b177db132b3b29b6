// A module built the way appkit refuses: linked with //client:appkit (a
// plain cc_binary, since appkit_module fails the build), so it carries a
// second copy of the appkit runtime. StartDaemon and StartWorkers must
// refuse it before anything runs (client/start_daemon_test,
// start_workers_test).
#include "client/appkit.h"

APPKIT_ENTRY(daemon_main) {
  while (!appkit::QuitRequested()) appkit::Sleep(absl::Seconds(1));
  return absl::OkStatus();
}
