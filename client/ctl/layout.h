// Where `appkitctl --config` puts each daemon's files, and the values a
// daemons.yaml template sees. Two layouts:
//
// state (the default): one directory per daemon under the state directory
// (--state-dir, default <config dir>/appkit-state):
//   <state>/<name>/<name>.pid (+ .sock), <name>.log, <name>-out.txt,
//   <name>-err.txt, <name>-debug.json, <name>.applied.json
//
// mordor (--layout mordor, $ENV_HOME set): where mordor and pyappkit put
// them, for application <app>:
//   $ENV_HOME/pids/<app>/<name>.pid (+ .sock), <name>.applied.json
//   $ENV_HOME/logs/<app>/<name>.log, <name>-out.txt, <name>-err.txt
//   $ENV_HOME/daemon_status/<app>/<name>.json   (the workers' debug file)
// and, as pyappkit does, $ENV_HOME/pids/<app>/<name>/ and
// $ENV_HOME/logs/<app>/<name>/ for the daemon's workers.
//
// <name>.applied.json records the settings a daemon was last started with
// (what `reload` compares). The application's name is --app, else the
// config file's directory name, or its parent's when that directory is
// named `current` (mordor deploys to $ENV_HOME/apps/<app>/current).
//
// Template context (mordor's names; mordor's values where mordor defines
// them, pyappkit's app_config.py):
//   app_name           the application's name
//   app_dir            the config file's directory
//   cfg_dir, data_dir  $ENV_HOME/configs/<app>, $ENV_HOME/data/<app>
//   stage              "stage" of $ENV_HOME/configs/<app>/deployment.json
//   log_dir, pid_dir, daemon_status_dir
//                      mordor: $ENV_HOME/logs|pids|daemon_status/<app>;
//                      state: the state directory (where the per-daemon
//                      directories are)
// A value that needs $ENV_HOME (or deployment.json) when it is missing is
// an error only for a file that uses it.
#ifndef APPKIT_CLIENT_CTL_LAYOUT_H_
#define APPKIT_CLIENT_CTL_LAYOUT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/ctl/mordor_template.h"

namespace appkit::ctl {

struct LayoutOptions {
  std::string layout = "state";  // "state" or "mordor"
  std::string state_dir;         // --state-dir; "" for the default (state layout only)
  std::string app;               // --app; "" to derive it from the config's directory
  std::string env_home;          // $ENV_HOME; "" when unset
};

struct DaemonFiles {
  std::string pid, log, stdout_file, stderr_file, debug, applied;
  // Directories a start creates when missing, parents first.
  std::vector<std::string> dirs;
};

class Layout {
 public:
  // `config_dir`: the absolute directory of the config file.
  static absl::StatusOr<Layout> Make(const std::string& config_dir, const LayoutOptions& options);

  DaemonFiles FilesFor(const std::string& name) const;
  TemplateContext Context() const;
  // Names whose pid file exists in this layout (running or not), sorted.
  std::vector<std::string> NamesWithPidFiles() const;

  bool mordor() const { return mordor_; }
  const std::string& app_name() const { return app_name_; }
  const std::string& config_dir() const { return config_dir_; }
  // The state directory (state layout), or $ENV_HOME (mordor).
  const std::string& root() const { return root_; }
  // Whether root() is the default state directory, which a start creates.
  bool default_root() const { return default_root_; }

 private:
  bool mordor_ = false;
  bool default_root_ = false;
  std::string app_name_, config_dir_, root_, env_home_;
};

// Why `name` cannot name a daemon or an application (a directory and file
// name part, shown in `ps`), or "" when it can: 1-64 bytes of UTF-8
// without '/' or control characters, not "." or "..".
std::string NameProblem(const std::string& name);

}  // namespace appkit::ctl

#endif  // APPKIT_CLIENT_CTL_LAYOUT_H_
