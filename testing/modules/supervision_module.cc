// Entries for the readiness and watchdog tests (SPEC §8). Each appends
// "<event> <pid>" lines to the file named by args "events" (when given),
// so tests wait for events instead of sleeping. Args "gate": a file whose
// existence lets an entry go on (the test creates it when it wants).
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>

#include "client/appkit.h"

namespace {

void Mark(const appkit::Args& args, const std::string& event) {
  auto path = args.GetString("events");
  if (!path.ok()) return;
  std::ofstream(*path, std::ios::app) << event << " " << getpid() << std::endl;
}

double Number(const appkit::Args& args, const std::string& key, double otherwise) {
  auto it = args.proto().fields().find(key);
  return it == args.proto().fields().end() ? otherwise : it->second.number_value();
}

// Waits until quit, calling nothing that beats between wake-ups.
void RunUntilQuit() {
  while (!appkit::QuitRequested()) appkit::Sleep(absl::Hours(1));
}

// Busy for `ms` without a syscall; `beat`: call Heartbeat() each ms.
void Spin(double ms, bool beat) {
  const absl::Time end = absl::Now() + absl::Milliseconds(ms);
  absl::Time next = absl::Now();
  volatile uint64_t x = 0;
  while (absl::Now() < end) {
    for (int i = 0; i < 1000; ++i) x = x + i;
    if (beat && absl::Now() >= next) {
      appkit::Heartbeat();
      next = absl::Now() + absl::Milliseconds(1);
    }
  }
}

}  // namespace

// Ready after args "delay_ms" (default 0) and, when args "gate" names a
// file, once that file exists (test code: it looks every 10 ms); then runs
// until quit.
APPKIT_ENTRY(ready_after) {
  Mark(args, "started");
  appkit::Sleep(absl::Milliseconds(Number(args, "delay_ms", 0)));
  if (auto gate = args.GetString("gate"); gate.ok()) {
    while (access(gate->c_str(), F_OK) != 0 && !appkit::QuitRequested()) {
      appkit::Sleep(absl::Milliseconds(10));
    }
  }
  if (appkit::QuitRequested()) return absl::OkStatus();
  appkit::NotifyReady();
  appkit::NotifyReady();  // twice is once
  Mark(args, "ready");
  RunUntilQuit();
  Mark(args, "quit");
  return absl::OkStatus();
}

// Never calls NotifyReady.
APPKIT_ENTRY(never_ready) {
  Mark(args, "started");
  RunUntilQuit();
  return absl::OkStatus();
}

// Fails before it is ready, with an error of its own.
APPKIT_ENTRY(fail_before_ready) {
  Mark(args, "started");
  return absl::UnavailableError("database at 10.0.0.7 refused the connection");
}

// Ready; then its entry thread hangs (blocked, no beat) while a side
// thread stays busy (no beat either: the watchdog must see the entry).
APPKIT_ENTRY(hang_entry) {
  Mark(args, "started");
  appkit::NotifyReady();
  std::thread([] { Spin(1e12, /*beat=*/false); }).detach();
  Mark(args, "hanging");
  for (;;) pause();  // a hung entry: no QuitRequested, no Heartbeat
}

// Busy (no sleep, no syscall) for args "busy_ms", beating with
// Heartbeat(); marks "busy_done", then runs until quit.
APPKIT_ENTRY(busy_beating) {
  Mark(args, "started");
  appkit::NotifyReady();
  Spin(Number(args, "busy_ms", 1000), /*beat=*/true);
  Mark(args, "busy_done");
  RunUntilQuit();
  return absl::OkStatus();
}
