// The quickstart's module (built into libdemo.so by appkit_module):
//   daemon_main  - the daemon entry: runs a pool of three workers until
//                  quit (two steady greeters and one flaky worker);
//   greeter      - logs a greeting every args "every_ms" until quit;
//   flaky        - works a little, then crashes (exit code 1 or SIGSEGV),
//                  to show restarts.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <random>

#include "client/appkit.h"

APPKIT_ENTRY(greeter) {
  auto every_ms = args.GetInt("every_ms");
  if (!every_ms.ok()) return every_ms.status();
  int count = 0;
  while (!appkit::QuitRequested()) {
    spdlog::info("hello #{} from pid {}", ++count, getpid());
    appkit::Sleep(absl::Milliseconds(*every_ms));
  }
  spdlog::info("greeter asked to quit after {} greetings", count);
  return absl::OkStatus();
}

APPKIT_ENTRY(flaky) {
  std::mt19937 random(static_cast<unsigned>(getpid()));
  const int work_ms = 800 + static_cast<int>(random() % 1200);
  spdlog::info("flaky worker {} up; it will crash in {} ms", getpid(), work_ms);
  appkit::Sleep(absl::Milliseconds(work_ms));
  if (appkit::QuitRequested()) return absl::OkStatus();
  if (random() % 2 == 0) {
    rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);  // a demo crash, not worth a core file
    raise(SIGSEGV);
  }
  return absl::InternalError("flaky worker gave up");
}

APPKIT_ENTRY(daemon_main) {
  auto dir = args.GetString("state_dir");
  if (!dir.ok()) return dir.status();
  std::vector<appkit::WorkerStartInfo> workers;
  for (const char* name : {"greeter-1", "greeter-2", "flaky"}) {
    appkit::WorkerStartInfo worker;
    worker.name = name;
    worker.entry = std::string("demo:") + (std::string(name) == "flaky" ? "flaky" : "greeter");
    worker.pid_filename = *dir + "/" + name + ".pid";
    worker.stdout_filename = *dir + "/" + name + "-out.txt";
    worker.stderr_filename = *dir + "/" + name + "-err.txt";
    worker.args.Set("every_ms", 1000);
    auto logging = appkit::LoggingConfigFromJson(R"({"handlers": [{"file": {"filename": ")" +
                                                 *dir + "/" + name + R"(.log"}}]})");
    if (!logging.ok()) return logging.status();
    worker.logging_config = *logging;
    workers.push_back(std::move(worker));
  }
  appkit::WorkersOptions options;
  options.debug_filename = *dir + "/debug.json";
  options.restart_interval = absl::Milliseconds(500);
  options.stop_timeout = absl::Seconds(5);
  spdlog::info("starting {} workers", workers.size());
  absl::Status status = appkit::StartWorkers(workers, options);
  spdlog::info("worker pool stopped: {}", status.ToString());
  return status;
}
