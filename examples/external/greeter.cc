// greeter.cc: the example's module (libgreeter.so). daemon_main runs two
// workers, "hello" and "world", that log a greeting every args "every_ms".
#include <unistd.h>

#include "client/appkit.h"

APPKIT_ENTRY(greet) {
  auto every_ms = args.GetInt("every_ms");
  if (!every_ms.ok()) return every_ms.status();
  while (!appkit::QuitRequested()) {
    spdlog::info("greetings from pid {}", getpid());
    appkit::Sleep(absl::Milliseconds(*every_ms));
  }
  return absl::OkStatus();
}

APPKIT_ENTRY(daemon_main) {
  auto dir = args.GetString("dir");  // where the workers' files go
  if (!dir.ok()) return dir.status();
  std::vector<appkit::WorkerStartInfo> workers;
  for (std::string name : {"hello", "world"}) {
    appkit::WorkerStartInfo worker;
    worker.name = name;
    worker.entry = "greeter:greet";
    worker.pid_filename = *dir + "/" + name + ".pid";
    worker.args.Set("every_ms", 500);
    auto logging = appkit::LoggingConfigFromJson(
        R"({"handlers": [{"file": {"filename": ")" + *dir + "/" + name + R"(.log"}}]})");
    if (!logging.ok()) return logging.status();
    worker.logging_config = *logging;
    workers.push_back(worker);
  }
  appkit::WorkersOptions options;
  options.restart_interval = absl::Milliseconds(100);
  return appkit::StartWorkers(workers, options);
}
