// A module whose static constructor crashes: loading it kills the process
// that dlopens it. StartDaemon must survive it (it never loads modules)
// and the guardian must report it.
#include <signal.h>
#include <sys/resource.h>

#include "client/appkit.h"

namespace {
struct CrashOnLoad {
  CrashOnLoad() {
    rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    raise(SIGSEGV);
  }
} crash_on_load;
}  // namespace

APPKIT_ENTRY(never_runs) { return absl::OkStatus(); }
