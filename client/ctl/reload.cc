#include "client/ctl/reload.h"

#include <stdio.h>
#include <unistd.h>

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/ctl/config_commands.h"
#include "client/ctl/ctl_commands.h"
#include "common/fd_io.h"
#include "common/safe_file.h"

namespace appkit::ctl {
namespace {

using Json = nlohmann::json;
using Action = ReloadStep::Action;

// The keys whose values differ (a missing key reads as null).
std::vector<std::string> ChangedKeys(const Json& before, const Json& now) {
  auto value = [](const Json& json, const std::string& key) {
    return json.is_object() && json.contains(key) ? json.at(key) : Json();
  };
  std::vector<std::string> keys;
  std::set<std::string> seen;
  for (const Json* side : {&now, &before}) {
    if (!side->is_object()) continue;
    for (const auto& item : side->items()) {
      if (seen.insert(item.key()).second && value(before, item.key()) != value(now, item.key())) {
        keys.push_back(item.key());
      }
    }
  }
  return keys;
}

std::optional<Json> ReadApplied(const std::string& path) {
  auto file = OpenFileForReading(path, "applied settings");
  if (!file.ok()) return std::nullopt;
  auto text = ReadAll(file->get());
  if (!text.ok()) return std::nullopt;
  Json json = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) return std::nullopt;
  return json;
}

}  // namespace

std::vector<ReloadStep> PlanReload(const std::vector<FoundDaemon>& in_file,
                                   const std::vector<std::string>& running_not_in_file) {
  std::vector<ReloadStep> stops, restarts, starts, kept;
  for (const std::string& name : running_not_in_file) {
    stops.push_back({Action::kStop, name, "removed from the file"});
  }
  for (const FoundDaemon& daemon : in_file) {
    if (!daemon.applied) {
      if (daemon.running) {
        kept.push_back({Action::kKeep, daemon.name,
                        "running, started without a record of its settings: left as is "
                        "(restart it to apply the file)"});
      } else {
        starts.push_back({Action::kStart, daemon.name, "added"});
      }
      continue;
    }
    std::vector<std::string> changed = ChangedKeys(*daemon.applied, daemon.settings);
    if (!daemon.running) {
      kept.push_back({Action::kKeep, daemon.name,
                      changed.empty() ? "stopped: left stopped"
                                      : absl::StrCat("stopped: left stopped (changed: ",
                                                     absl::StrJoin(changed, ", "),
                                                     "; applies at its next start)")});
    } else if (changed.empty()) {
      kept.push_back({Action::kKeep, daemon.name, "unchanged"});
    } else {
      restarts.push_back(
          {Action::kRestart, daemon.name, "changed: " + absl::StrJoin(changed, ", ")});
    }
  }
  std::vector<ReloadStep> plan = stops;
  plan.insert(plan.end(), restarts.begin(), restarts.end());
  plan.insert(plan.end(), starts.begin(), starts.end());
  plan.insert(plan.end(), kept.begin(), kept.end());
  return plan;
}

int Reload(const DaemonsConfig& config, absl::Duration timeout) {
  std::vector<FoundDaemon> found;
  std::set<std::string> names;
  for (const NamedDaemon& daemon : config.daemons) {
    names.insert(daemon.name);
    FoundDaemon item;
    item.name = daemon.name;
    item.running = RunningGuardian(daemon.files.pid).pid.has_value();
    item.applied = ReadApplied(daemon.files.applied);
    item.settings = daemon.settings;
    found.push_back(std::move(item));
  }
  std::vector<std::string> removed;
  for (const std::string& name : config.layout.NamesWithPidFiles()) {
    if (names.count(name) == 0 && RunningGuardian(config.layout.FilesFor(name).pid).pid) {
      removed.push_back(name);
    }
  }
  int code = kOk;
  for (const ReloadStep& step : PlanReload(found, removed)) {
    switch (step.action) {
      case Action::kStop: {
        printf("%s: %s: stopping\n", step.name.c_str(), step.why.c_str());
        fflush(stdout);
        const DaemonFiles files = config.layout.FilesFor(step.name);
        const int stopped = Stop(Target{files.pid, ""}, timeout, step.name);
        if (stopped == kOk) unlink(files.applied.c_str());
        code = Worst(code, stopped);
        break;
      }
      case Action::kRestart: {
        printf("%s: %s: restarting\n", step.name.c_str(), step.why.c_str());
        fflush(stdout);
        const NamedDaemon& daemon = *config.Find(step.name);
        int restarted = Stop(Target{daemon.files.pid, ""}, timeout, step.name);
        if (restarted == kOk) restarted = StartOne(config, daemon);
        code = Worst(code, restarted);
        break;
      }
      case Action::kStart:
        printf("%s: %s: starting\n", step.name.c_str(), step.why.c_str());
        fflush(stdout);
        code = Worst(code, StartOne(config, *config.Find(step.name)));
        break;
      case Action::kKeep:
        printf("%s: %s\n", step.name.c_str(), step.why.c_str());
        break;
    }
    fflush(stdout);
  }
  return code;
}

}  // namespace appkit::ctl
