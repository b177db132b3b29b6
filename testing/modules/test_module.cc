// Entries that the integration tests run under the executor and worker.
// Each appends "<event> <pid>" lines to the file named by args "events"
// (when given), so tests wait for events instead of sleeping.
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <fstream>

#include "client/appkit.h"

namespace {

void Mark(const appkit::Args& args, const std::string& event) {
  auto path = args.GetString("events");
  if (!path.ok()) return;
  std::ofstream(*path, std::ios::app) << event << " " << getpid() << std::endl;
}

}  // namespace

// Runs until quit; logs and prints on the way.
APPKIT_ENTRY(run_until_quit) {
  Mark(args, "started");
  spdlog::info("module line from run_until_quit");
  printf("stdout line from run_until_quit\n");
  fflush(stdout);
  fprintf(stderr, "stderr line from run_until_quit\n");
  while (!appkit::QuitRequested()) appkit::Sleep(absl::Hours(1));
  Mark(args, "quit");
  return absl::OkStatus();
}

APPKIT_ENTRY(exit_ok) {
  Mark(args, "started");
  return absl::OkStatus();
}

APPKIT_ENTRY(fail_fast) {
  Mark(args, "started");
  return absl::InternalError("fail_fast always fails");
}

APPKIT_ENTRY(ignore_quit) {
  Mark(args, "started");
  for (;;) pause();
}

// Sleeps an hour, or until quit; records how long it slept.
APPKIT_ENTRY(sleep_long) {
  Mark(args, "started");
  absl::Time start = absl::Now();
  appkit::Sleep(absl::Hours(1));
  Mark(args, "slept_ms=" + std::to_string(absl::ToInt64Milliseconds(absl::Now() - start)));
  return absl::OkStatus();
}

// Reads its args and fails unless foo == 42 and name == "appkit".
APPKIT_ENTRY(check_args) {
  auto foo = args.GetInt("foo");
  if (!foo.ok()) return foo.status();
  auto name = args.GetString("name");
  if (!name.ok()) return name.status();
  Mark(args, "args foo=" + std::to_string(*foo) + " name=" + *name);
  return absl::OkStatus();
}

// Forks a grandchild that sleeps forever, then runs until quit.
APPKIT_ENTRY(fork_grandchild) {
  pid_t child = fork();
  if (child == 0) {
    for (;;) pause();
  }
  Mark(args, "grandchild=" + std::to_string(child) + " by");
  while (!appkit::QuitRequested()) appkit::Sleep(absl::Hours(1));
  return absl::OkStatus();
}

APPKIT_ENTRY(crash) {
  Mark(args, "started");
  raise(SIGSEGV);
  return absl::OkStatus();
}
