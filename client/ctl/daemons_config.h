// daemons.yaml: named daemons for `appkitctl --config` (SPEC §6), the C++
// counterpart of mordor's file. A mordor daemons.yaml works unchanged:
//
//   demo1:                          # daemon name
//     args: {x: 1, y: 2}            # the entry's Args (a mapping)
//     restart_interval_seconds: 5   # missing or null: never restart
//     entry: demo1:daemon_entry     # default "<name>:daemon_entry"
//     stop_timeout_seconds: 10      # optional overrides
//     log_level: INFO
//
// Each daemon's files live in <state dir>/<name>/: <name>.pid (and its
// .sock), <name>.log, <name>-out.txt, <name>-err.txt, <name>-debug.json.
// Errors name the file, the line and the key.
//
// A hostile file costs bounded time and memory: at most 16 MiB, 100,000
// values before and after expanding aliases (which stay allowed, as in
// PyYAML's safe_load), 16 MiB of text after expanding them, args nested 32
// levels deep. Durations are 0 to 31536000 seconds (365 days) or null. A
// daemon name is 1-64 bytes of UTF-8 without '/' or control characters,
// and not "." or ".."; a bad one is shown escaped.
#ifndef APPKIT_CLIENT_CTL_DAEMONS_CONFIG_H_
#define APPKIT_CLIENT_CTL_DAEMONS_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/appkit.h"

namespace appkit::ctl {

struct NamedDaemon {
  std::string name;
  std::string dir;             // <state dir>/<name>
  std::string debug_filename;  // where its worker pool writes
  DaemonOptions options;       // pid, socket, stdout/stderr, logging, entry, args
};

struct DaemonsConfig {
  std::string path;
  std::string config_dir;  // modules are looked for here first
  std::string state_dir;
  std::vector<NamedDaemon> daemons;  // in file order

  const NamedDaemon* Find(const std::string& name) const;
};

// `state_dir` empty: "<config dir>/appkit-state".
absl::StatusOr<DaemonsConfig> LoadDaemonsConfig(const std::string& path,
                                                const std::string& state_dir);

}  // namespace appkit::ctl

#endif  // APPKIT_CLIENT_CTL_DAEMONS_CONFIG_H_
