// What ListWorkers and the debug file show of the workers: views built
// from each worker machine's WorkerRecord (worker_machine.h) and what the
// worker is (WorkerInfo), never the machine's storage. Pure functions.
#ifndef APPKIT_CONTROLLER_STATUS_VIEW_H_
#define APPKIT_CONTROLLER_STATUS_VIEW_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "controller/config.h"
#include "controller/worker_machine.h"
#include "proto/controller.pb.h"

namespace appkit::controller {

// The fixed part of a worker's status.
struct WorkerInfo {
  int index = 0;
  std::string name;
  std::string entry;
  std::string pid_filename;
  std::string stdout_filename;
  std::string stderr_filename;
};
WorkerInfo InfoOf(int index, const WorkerConfig& config);

v1::WorkerState StateView(WorkerState state);
v1::WorkerStatus WorkerStatusView(const WorkerInfo& info, const WorkerRecord& record);

// `infos` and `records` side by side, by worker index.
v1::ListWorkersResponse ListWorkersView(pid_t controller_pid, bool quit_requested,
                                        const std::vector<WorkerInfo>& infos,
                                        const std::vector<WorkerRecord>& records);
// The debug file's JSON (debug_info.h) as of `now`.
std::string DebugJsonView(absl::Time now, const std::vector<WorkerInfo>& infos,
                          const std::vector<WorkerRecord>& records);

}  // namespace appkit::controller

#endif  // APPKIT_CONTROLLER_STATUS_VIEW_H_
