// A module whose deps wrongly include @appkit//client:appkit: refused at
// build time by appkit_module (see BUILD).
#include "client/appkit.h"

APPKIT_ENTRY(daemon_main) { return absl::OkStatus(); }
