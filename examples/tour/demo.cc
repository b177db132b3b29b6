// examples/tour/demo.cc: a module (libdemo.so). daemon_main keeps a pool of
// two workers alive; each worker logs "working" to its own log file.
#include <sys/stat.h>

#include "client/appkit.h"

APPKIT_ENTRY(worker_main) {
  auto every_ms = args.GetInt("every_ms");       // args: a JSON object
  if (!every_ms.ok()) return every_ms.status();  // error -> exit code 1
  while (!appkit::QuitRequested()) {             // true after SIGTERM / quit
    spdlog::info("working");                     // to the worker's logging_config
    appkit::Sleep(absl::Milliseconds(*every_ms));  // returns at once on quit
  }
  return absl::OkStatus();
}

APPKIT_ENTRY(daemon_main) {
  auto dir = args.GetString("dir");              // where the workers' files go
  if (!dir.ok()) return dir.status();
  mkdir(dir->c_str(), 0700);                     // (fine if it exists)
  std::vector<appkit::WorkerStartInfo> workers;
  for (std::string name : {"w1", "w2"}) {
    appkit::WorkerStartInfo worker;
    worker.name = name;
    worker.entry = "demo:worker_main";
    worker.pid_filename = *dir + "/" + name + ".pid";
    worker.args.Set("every_ms", 1000);
    auto logging = appkit::LoggingConfigFromJson(
        R"({"handlers": [{"file": {"filename": ")" + *dir + "/" + name + R"(.log"}}]})");
    if (!logging.ok()) return logging.status();
    worker.logging_config = *logging;
    workers.push_back(worker);
  }
  appkit::WorkersOptions options;
  options.restart_interval = absl::Seconds(1);   // a crashed worker is back 1 s later
  options.debug_filename = *dir + "/debug.json";
  return appkit::StartWorkers(workers, options); // until quit, then stops them all
}
