// What StartWorkers (client/start_workers.cc) hands the controller: the
// workers, checked and resolved, and the options of the pool. Plain
// values; the controller copies them and never changes them.
#ifndef APPKIT_CONTROLLER_CONFIG_H_
#define APPKIT_CONTROLLER_CONFIG_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/process/command.h"
#include "common/runtime/logging.h"
#include "common/runtime/supervision.h"
#include "google/protobuf/struct.pb.h"
#include "proto/controller.pb.h"

namespace appkit::controller {

struct WorkerConfig {
  std::string name;            // unique, non-empty, no control characters
  std::string entry;           // as the user wrote it
  std::string resolved_entry;  // "/abs/libx.so:function"
  google::protobuf::Struct args;
  std::optional<LoggingConfig> logging;
  std::string pid_filename;
  std::string stdout_filename;
  std::string stderr_filename;
  std::string process_title;                       // what ps shows (set by the controller)
  std::optional<absl::Duration> ready_timeout;     // SPEC §8: none, ready when it runs
  std::optional<absl::Duration> watchdog_timeout;  // none: no watchdog
  // SPEC §10: with an argv, the worker runs this program (`program`, the
  // argv[0] found) instead of an entry (`entry` shows the command line);
  // an entry gets its environment and working directory too.
  CommandSpec command;
  std::string program;
  bool is_command() const { return !command.argv.empty(); }
};

struct ControllerConfig {
  std::vector<WorkerConfig> workers;
  std::optional<std::string> debug_filename;
  absl::Duration check_interval = absl::Minutes(1);
  std::optional<absl::Duration> restart_interval;  // none: an exited worker stays EXITED
  std::optional<absl::Duration> stop_timeout;      // none: wait for a stopping worker forever
  RestartPolicy restart_policy;                    // per worker (SPEC §8)
  std::string worker_binary;                       // the worker fork server (worker/main.cc)
  std::string controller_socket;                   // serve appkit.v1.Controller there; "" for none
  std::string daemon_name;     // names the processes in ps: "appkit-worker <daemon_name>/<worker>"
  uint64_t user_fd_limit = 0;  // the workers' soft RLIMIT_NOFILE (0: as inherited)
  // AddWorker: checks a spec as StartWorkers checks a worker (`index`: the
  // one it would get) and resolves it; InvalidArgument naming the culprit.
  // Called on the controller's loop. Empty: AddWorker is UNIMPLEMENTED.
  std::function<absl::StatusOr<WorkerConfig>(const v1::WorkerSpec& spec, int index)> check_spec;
};

}  // namespace appkit::controller

#endif  // APPKIT_CONTROLLER_CONFIG_H_
