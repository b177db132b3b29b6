#include "client/ctl/config_commands.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/ctl/ctl_commands.h"
#include "common/base/safe_file.h"
#include "common/host/option_checks.h"
#include "common/process/stdio_files.h"

namespace appkit::ctl {
namespace {

Target TargetOf(const NamedDaemon& daemon) { return Target{daemon.files.pid, ""}; }

// Creates `dir` (0755) when missing and checks it is ours (a directory
// only we or root can change: common/base/safe_file.h). A name planted there by
// another user is refused, never followed. `created` tells whether this
// call made it.
absl::Status EnsureOwnDirectory(const std::string& dir, const std::string& what, bool* created) {
  *created = false;
  if (mkdir(dir.c_str(), 0755) == 0) {
    *created = true;
  } else if (errno != EEXIST) {
    return absl::Status(absl::ErrnoToStatusCode(errno),
                        absl::StrCat("cannot create ", what, " ", dir, ": ", strerror(errno)));
  }
  return CheckTrustedDirectory(dir, what + " " + dir);
}

// The directories `daemon` needs, made; those this call made are added
// to `created` (parents first).
absl::Status MakeDirectories(const DaemonsConfig& config, const NamedDaemon& daemon,
                             std::vector<std::string>& created) {
  const Layout& layout = config.layout;
  const std::string& root = layout.root();
  struct stat st;
  if (!layout.default_root() && stat(root.c_str(), &st) != 0) {
    return absl::NotFoundError(
        layout.mordor() ? absl::StrCat("$ENV_HOME ", root, " does not exist")
                        : absl::StrCat("state directory ", root,
                                       " does not exist (create it, or leave out --state-dir)"));
  }
  bool made = false;
  absl::Status root_ok =
      layout.default_root()
          ? EnsureOwnDirectory(root, "state directory", &made)
          : CheckTrustedDirectory(root,
                                  (layout.mordor() ? "$ENV_HOME " : "state directory ") + root);
  if (!root_ok.ok()) return root_ok;
  for (const std::string& dir : daemon.files.dirs) {
    if (absl::Status status = EnsureOwnDirectory(dir, "directory", &made); !status.ok()) {
      return status;
    }
    if (made) created.push_back(dir);
  }
  return absl::OkStatus();
}

// Modules are looked for next to the config file first (the executor and
// its workers inherit this); set once per process.
void SetModulePath(const DaemonsConfig& config) {
  static bool done = false;
  if (done) return;
  done = true;
  std::string module_path = config.config_dir;
  if (const char* old = getenv("APPKIT_MODULE_PATH"); old && *old) {
    module_path = absl::StrCat(module_path, ":", old);
  }
  setenv("APPKIT_MODULE_PATH", module_path.c_str(), 1);
}

std::string WhereFiles(const DaemonsConfig& config, const NamedDaemon& daemon) {
  if (!config.layout.mordor()) return "files in " + daemon.dir;
  return absl::StrCat("pid file ", daemon.files.pid, ", log ", daemon.files.log);
}

}  // namespace

absl::StatusOr<std::vector<const NamedDaemon*>> Select(const DaemonsConfig& config,
                                                       const std::vector<std::string>& names,
                                                       bool all) {
  std::vector<const NamedDaemon*> selected;
  if (all) {
    for (const NamedDaemon& daemon : config.daemons) selected.push_back(&daemon);
    return selected;
  }
  for (const std::string& name : names) {
    const NamedDaemon* daemon = config.Find(name);
    if (daemon == nullptr) {
      std::vector<std::string> known;
      for (const NamedDaemon& d : config.daemons) known.push_back(d.name);
      return absl::NotFoundError(
          absl::StrCat("no daemon named '", internal::EscapeBytes(name), "' in ", config.path,
                       " (defined: ", known.empty() ? "none" : absl::StrJoin(known, ", "), ")"));
    }
    selected.push_back(daemon);
  }
  return selected;
}

int List(const DaemonsConfig& config, bool json) {
  OrderedJson out = {{"daemons", OrderedJson::array()}};
  std::vector<std::vector<std::string>> rows = {DaemonHeader()};
  rows.front().push_back("DESCRIPTION");
  for (const NamedDaemon& daemon : config.daemons) {
    DaemonView view = Inspect(TargetOf(daemon));
    if (json) {
      OrderedJson item = StatusJson(TargetOf(daemon), view, daemon.name);
      item["description"] = daemon.description;
      out["daemons"].push_back(std::move(item));
    } else {
      rows.push_back(DaemonRow(daemon.name, view));
      rows.back().push_back(daemon.description);
    }
  }
  if (json) {
    PrintJson(out);
  } else {
    PrintTable(rows);
  }
  return kOk;
}

int StartOne(const DaemonsConfig& config, const NamedDaemon& daemon) {
  std::vector<std::string> created;
  if (absl::Status dirs = MakeDirectories(config, daemon, created); !dirs.ok()) {
    fprintf(stderr, "cannot start %s: %s\n", daemon.name.c_str(),
            std::string(dirs.message()).c_str());
    for (auto dir = created.rbegin(); dir != created.rend(); ++dir) rmdir(dir->c_str());
    return kError;
  }
  SetModulePath(config);
  // A worker pool writes its debug file where the layout says.
  setenv("APPKIT_DEBUG_FILE", daemon.debug_filename.c_str(), 1);

  DaemonStartResult result = StartDaemon(daemon.options);
  switch (result.status) {
    case DaemonRunStatus::kLaunched: {
      printf("started %s (guardian pid %d); %s\n", daemon.name.c_str(), *result.pid,
             WhereFiles(config, daemon).c_str());
      absl::Status recorded = WriteFileAtomically(
          daemon.files.applied, daemon.settings.dump(2) + "\n", "applied settings");
      if (!recorded.ok()) {
        fprintf(stderr,
                "%s runs, but its settings were not recorded (reload will not know "
                "them): %s\n",
                daemon.name.c_str(), std::string(recorded.message()).c_str());
      }
      return kOk;
    }
    case DaemonRunStatus::kAlreadyRunning:
      printf("%s is already running (guardian pid %d)\n", daemon.name.c_str(), *result.pid);
      return kOk;
    case DaemonRunStatus::kLaunchFailed:
      fprintf(stderr, "cannot start %s: %s\n", daemon.name.c_str(), result.error.c_str());
      // Bad input leaves nothing behind: directories made for this start
      // go again (rmdir: only while StartDaemon left them empty).
      for (auto dir = created.rbegin(); dir != created.rend(); ++dir) rmdir(dir->c_str());
      return kError;
  }
  return kError;
}

int RunOne(const DaemonsConfig& config, const NamedDaemon& daemon) {
  std::vector<std::string> created;
  absl::Status dirs = MakeDirectories(config, daemon, created);
  absl::StatusOr<int> status = 0;
  if (!dirs.ok()) {
    status = dirs;
  } else {
    SetModulePath(config);
    setenv("APPKIT_DEBUG_FILE", daemon.debug_filename.c_str(), 1);
    // The container's main process (or a systemd service): what the
    // daemon writes to stdout and stderr is the container's log (the
    // journal), so it goes to ours, not to the layout's files (SPEC §10).
    DaemonOptions options = daemon.options;
    options.stdout_filename = kCallerStdout;
    options.stderr_filename = kCallerStderr;
    status = RunDaemon(options);
  }
  if (status.ok()) return *status;
  fprintf(stderr, "cannot run %s: %s\n", daemon.name.c_str(),
          std::string(status.status().message()).c_str());
  for (auto dir = created.rbegin(); dir != created.rend(); ++dir) rmdir(dir->c_str());
  return kError;
}

int StartMany(const DaemonsConfig& config, const std::vector<const NamedDaemon*>& daemons) {
  int code = kOk;
  for (const NamedDaemon* daemon : daemons) code = Worst(code, StartOne(config, *daemon));
  return code;
}

int StopMany(const std::vector<const NamedDaemon*>& daemons, absl::Duration timeout) {
  int code = kOk;
  for (const NamedDaemon* daemon : daemons) {
    code = Worst(code, Stop(TargetOf(*daemon), timeout, daemon->name));
  }
  return code;
}

int RestartMany(const DaemonsConfig& config, const std::vector<const NamedDaemon*>& daemons,
                absl::Duration timeout) {
  int code = kOk;
  (void)timeout;  // the guardian's own stop_timeout bounds the executor's stop
  for (const NamedDaemon* daemon : daemons) {
    // A running daemon: Guardian.Restart; a stopped one is started.
    const Running running = RunningGuardian(TargetOf(*daemon).pid_filename);
    const int restarted =
        running.pid ? Restart(TargetOf(*daemon), daemon->name) : StartOne(config, *daemon);
    code = Worst(code, restarted);
  }
  return code;
}

int StatusMany(const std::vector<const NamedDaemon*>& daemons, bool several, bool json) {
  if (!several && daemons.size() == 1) {
    return Status(TargetOf(*daemons[0]), json, json ? daemons[0]->name : "");
  }
  int code = kOk;
  OrderedJson out = {{"daemons", OrderedJson::array()}};
  std::vector<std::vector<std::string>> rows = {DaemonHeader()};
  for (const NamedDaemon* daemon : daemons) {
    DaemonView view = Inspect(TargetOf(*daemon));
    code = Worst(code, view.exit_code);
    if (json) {
      out["daemons"].push_back(StatusJson(TargetOf(*daemon), view, daemon->name));
    } else {
      rows.push_back(DaemonRow(daemon->name, view));
    }
  }
  if (json) {
    PrintJson(out);
  } else {
    PrintTable(rows);
  }
  return code;
}

}  // namespace appkit::ctl
