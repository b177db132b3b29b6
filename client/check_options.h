// Value checks of DaemonOptions, WorkerStartInfo and WorkersOptions that
// StartDaemon and StartWorkers make before anything starts (the checks of
// files and entries are theirs): durations within [0, a year], strings
// that can travel in appkit's protobuf messages (UTF-8), args nested
// within kMaxArgsDepth. Each error names the option and shows the value
// (escaped); common/host/option_checks.h has the rules.
#ifndef APPKIT_CLIENT_CHECK_OPTIONS_H_
#define APPKIT_CLIENT_CHECK_OPTIONS_H_

#include <vector>

#include "absl/status/status.h"
#include "client/appkit.h"

namespace appkit::internal {

absl::Status CheckDaemonOptionValues(const DaemonOptions& options);

// `who` names the worker in errors ("worker 'w1'").
absl::Status CheckWorkerValues(const std::string& who, const WorkerStartInfo& worker);

absl::Status CheckWorkersOptionValues(const WorkersOptions& options);

}  // namespace appkit::internal

#endif  // APPKIT_CLIENT_CHECK_OPTIONS_H_
