// Entries for the benchmarks: each writes "<event> <pid> <unix ns>" lines
// to args "events" at the moment that matters.
#include <time.h>
#include <unistd.h>

#include <cstdio>

#include "client/appkit.h"

namespace {
void Mark(const appkit::Args& args, const char* event) {
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  auto path = args.GetString("events");
  if (!path.ok()) return;
  FILE* f = fopen(path->c_str(), "a");
  if (!f) return;
  fprintf(f, "%s %d %lld\n", event, getpid(),
          static_cast<long long>(now.tv_sec) * 1000000000LL + now.tv_nsec);
  fclose(f);
}
}  // namespace

// Marks its start, then waits for quit.
APPKIT_ENTRY(mark_and_wait) {
  Mark(args, "start");
  while (!appkit::QuitRequested()) appkit::Sleep(absl::Hours(1));
  return absl::OkStatus();
}

// Marks its start; the first run waits for SIGTERM... no: every run fails
// at once after marking, until args "crashes" runs have happened.
APPKIT_ENTRY(mark_and_fail) {
  Mark(args, "start");
  Mark(args, "exit");
  return absl::InternalError("benchmark crash");
}
