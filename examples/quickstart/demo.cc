// The quickstart's module: a daemon entry that logs a heartbeat until it
// is asked to quit. Built into libdemo.so by appkit_module.
#include "client/appkit.h"

APPKIT_ENTRY(daemon_main) {
  auto every_ms = args.GetInt("heartbeat_ms");
  if (!every_ms.ok()) return every_ms.status();
  int beat = 0;
  while (!appkit::QuitRequested()) {
    spdlog::info("heartbeat {}", ++beat);
    appkit::Sleep(absl::Milliseconds(*every_ms));
  }
  spdlog::info("quit requested after {} heartbeats; bye", beat);
  return absl::OkStatus();
}
