// `appkitctl --config daemons.yaml reload`: make the running daemons match
// a changed file, as supervisorctl's `update` does, and say what it did.
//
//   added    in the file, never started here (no <name>.applied.json):
//            started
//   changed  running, and the file's settings (entry, args, intervals,
//            log level) differ from those it was started with: stopped,
//            then started
//   removed  not in the file, but its pid file in the layout is held by a
//            live guardian: stopped (and its applied record removed)
//   kept     running and unchanged; or stopped by hand (it has a record):
//            left stopped, whatever changed (the file applies at its next
//            start); or running without a record (started before records
//            were kept): left as is, and said so
//
// Removed daemons are stopped first, then changed ones restarted, then
// added ones started. The exit code is the worst of the actions'.
#ifndef APPKIT_CLIENT_CTL_RELOAD_H_
#define APPKIT_CLIENT_CTL_RELOAD_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "client/ctl/daemons_config.h"
#include "nlohmann/json.hpp"

namespace appkit::ctl {

// A daemon of the file as reload finds it.
struct FoundDaemon {
  std::string name;
  bool running = false;
  std::optional<nlohmann::json> applied;  // its record, when there is one
  nlohmann::json settings;                // what the file says now
};

struct ReloadStep {
  enum class Action { kStop, kRestart, kStart, kKeep };
  Action action = Action::kKeep;
  std::string name;
  std::string why;  // "added", "changed: args", "removed from the file", ...
};

// What to do, in order (pure).
std::vector<ReloadStep> PlanReload(const std::vector<FoundDaemon>& in_file,
                                   const std::vector<std::string>& running_not_in_file);

int Reload(const DaemonsConfig& config, absl::Duration timeout);

}  // namespace appkit::ctl

#endif  // APPKIT_CLIENT_CTL_RELOAD_H_
