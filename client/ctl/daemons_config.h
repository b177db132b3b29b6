// daemons.yaml: named daemons for `appkitctl --config`, the C++ counterpart
// of mordor's file. A mordor daemons.yaml works unchanged:
//
//   demo1:                          # daemon name
//     description: the demo         # shown by `list`
//     args: {x: 1, y: 2}            # the entry's Args (a mapping)
//     restart_interval_seconds: 5   # missing or null: never restart
//     entry: demo1:daemon_entry     # default "<name>:daemon_entry"
//     stop_timeout_seconds: 10      # optional overrides
//     log_level: INFO
//     health_listen: 0.0.0.0:8081   # grpc.health.v1 on TCP (SPEC §10)
//
// As in mordor, the file is first rendered as a template ({{ name }} with
// the values of mordor_template.h / layout.h), its scalars read as PyYAML's
// safe_load reads them (yaml_values.h), and the entry's args get
// `app_name` and `daemon_name` (replacing keys of those names). Where the
// daemon's files go is the layout's business (layout.h). Errors name the
// file, the line and the key.
//
// A hostile file costs bounded time and memory: at most 16 MiB, the bounds
// of yaml_values.h, args nested 32 levels deep. Durations are 0 to
// 31536000 seconds (365 days) or null; a plain scalar that reads as a
// decimal number (1e3) counts, as mordor's float field takes it. A daemon
// name is 1-64 bytes of UTF-8 without '/' or control characters, and not
// "." or ".."; a bad one is shown escaped.
#ifndef APPKIT_CLIENT_CTL_DAEMONS_CONFIG_H_
#define APPKIT_CLIENT_CTL_DAEMONS_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/appkit.h"
#include "client/ctl/layout.h"
#include "nlohmann/json.hpp"

namespace appkit::ctl {

struct NamedDaemon {
  std::string name;
  std::string description;
  DaemonFiles files;
  std::string dir;             // the pid file's directory
  std::string debug_filename;  // where its worker pool writes (files.debug)
  DaemonOptions options;       // pid, stdout/stderr, logging, entry, args, intervals
  // What it runs with, as <name>.applied.json records it: entry, args,
  // restart_interval_seconds, stop_timeout_seconds, log_level.
  nlohmann::json settings;
};

struct DaemonsConfig {
  std::string path;
  std::string config_dir;  // modules are looked for here first
  std::string state_dir;   // the layout's root
  Layout layout;
  std::vector<NamedDaemon> daemons;  // in file order

  const NamedDaemon* Find(const std::string& name) const;
};

absl::StatusOr<DaemonsConfig> LoadDaemonsConfig(const std::string& path,
                                                const LayoutOptions& options);
// The state layout; `state_dir` empty: "<config dir>/appkit-state".
absl::StatusOr<DaemonsConfig> LoadDaemonsConfig(const std::string& path,
                                                const std::string& state_dir);

}  // namespace appkit::ctl

#endif  // APPKIT_CLIENT_CTL_DAEMONS_CONFIG_H_
