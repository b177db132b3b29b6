// Entries for the benchmarks: each writes "<event> <pid> <unix ns>" lines
// to args "events" at the moment that matters.
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

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

// Runs StartWorkers with args "count" workers named w0..wN-1 running args
// "entry" (a function of this module), pid files under args "dir";
// "restart_interval_ms" (absent: no restart). Marks "pool" first.
APPKIT_ENTRY(run_pool) {
  auto count = args.GetInt("count");
  auto entry = args.GetString("entry");
  auto dir = args.GetString("dir");
  if (!count.ok() || !entry.ok() || !dir.ok()) {
    return absl::InvalidArgumentError("run_pool needs count, entry, dir");
  }
  appkit::Args worker_args;
  worker_args.Set("events", *args.GetString("events"));
  std::vector<appkit::WorkerStartInfo> workers;
  for (int64_t i = 0; i < *count; ++i) {
    appkit::WorkerStartInfo info;
    info.name = "w" + std::to_string(i);
    info.entry = "bench_module:" + *entry;
    info.pid_filename = *dir + "/" + info.name + ".pid";
    info.args = worker_args;
    workers.push_back(std::move(info));
  }
  appkit::WorkersOptions options;
  auto restart = args.GetInt("restart_interval_ms");
  options.restart_interval =
      restart.ok() ? std::optional<absl::Duration>(absl::Milliseconds(*restart)) : std::nullopt;
  if (auto debug = args.GetString("debug_filename"); debug.ok()) options.debug_filename = *debug;
  Mark(args, "pool");
  return appkit::StartWorkers(workers, options);
}

// Beats, marks "hang" (the last beat is just before it), then hangs: no
// QuitRequested, no Heartbeat. The watchdog's benchmark.
APPKIT_ENTRY(beat_and_hang) {
  appkit::Heartbeat();
  Mark(args, "hang");
  for (;;) pause();
}

// Waits (Sleep, 1 ms steps) until the file args "gate" exists, marks
// "ready" and calls NotifyReady(), then waits for quit.
APPKIT_ENTRY(ready_on_gate) {
  Mark(args, "start");
  auto gate = args.GetString("gate");
  while (gate.ok() && access(gate->c_str(), F_OK) != 0 && !appkit::QuitRequested()) {
    appkit::Sleep(absl::Milliseconds(1));
  }
  Mark(args, "ready");
  appkit::NotifyReady();
  while (!appkit::QuitRequested()) appkit::Sleep(absl::Hours(1));
  return absl::OkStatus();
}
