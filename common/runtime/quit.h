// The process-wide quit state behind appkit::QuitRequested() and
// appkit::Sleep(): one flag per process, shared by the host binary and
// every module it loads.
//
// The state is a one-way latch: an atomic flag plus an eventfd that
// becomes readable, and stays readable, once quit is requested. Loops
// (the controller, Sleep) wait on the eventfd; nothing polls.
//
// Modules link no copy of this code: the host binaries export it
// (-rdynamic) and a module's calls bind to the host's definitions, so
// "one quit flag per process" holds whatever the module links.
#ifndef APPKIT_COMMON_QUIT_H_
#define APPKIT_COMMON_QUIT_H_

#include <sys/types.h>

#include "absl/time/time.h"

namespace appkit {

bool QuitRequested();
void Sleep(absl::Duration duration, absl::Duration step = absl::Seconds(1));

namespace internal {

// Sets the flag and makes QuitFd() readable. Async-signal-safe once
// QuitFd() has been called (the host does so at start-up).
void RequestQuit();

// The latch eventfd (close-on-exec). Created on first use.
int QuitFd();

// Makes SIGTERM (and SIGINT) request quit in this process. When
// `forward_to` is non-zero, a SIGTERM that did not come from `forward_to`
// is also sent on to it (the executor tells its guardian). The handler
// only stores, writes the eventfd and calls kill: async-signal-safe.
void InstallQuitSignalHandler(pid_t forward_to);
bool QuitSignalHandlerInstalled();

}  // namespace internal
}  // namespace appkit

#endif  // APPKIT_COMMON_QUIT_H_
