// The debug file / debug snapshot JSON, pyappkit's format:
//
//   {"updated_at": "...", "worker_info_list": [{"index", "entry", "name",
//    "stdout_filename", "stderr_filename", "pid" (null while not
//    running), "start_after" (null unless a restart is due),
//    "start_time" (null before the first start), "history": [{"pid",
//    "exitcode", "start_time", "end_time", and appkit's "error" when the
//    run has one (ProcessRun.error)}]}]}
//
// Times are UTC "%Y-%m-%d %H:%M:%S.%f"; exitcode is minus the signal
// number for a process killed by a signal. Keys keep this order.
#ifndef APPKIT_CONTROLLER_DEBUG_INFO_H_
#define APPKIT_CONTROLLER_DEBUG_INFO_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "proto/controller.pb.h"

namespace appkit::controller {

std::string RenderDebugInfo(absl::Time updated_at, const std::vector<v1::WorkerStatus>& workers);

}  // namespace appkit::controller

#endif  // APPKIT_CONTROLLER_DEBUG_INFO_H_
