#include "client/ctl/layout.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/base/safe_file.h"
#include "common/host/option_checks.h"
#include "nlohmann/json.hpp"

namespace appkit::ctl {
namespace {

constexpr size_t kMaxNameBytes = 64;

std::string Absolute(const std::string& path) {
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) != nullptr) return resolved;
  return path;
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// "stage" of mordor's deployment.json.
absl::StatusOr<std::string> ReadStage(const std::string& cfg_dir) {
  const std::string path = cfg_dir + "/deployment.json";
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("the stage comes from ", path,
                                            " (mordor's deployment.json), which cannot be read"));
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("stage") || !json["stage"].is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " has no string \"stage\" (mordor's deployment.json)"));
  }
  return json["stage"].get<std::string>();
}

}  // namespace

std::string NameProblem(const std::string& name) {
  if (name.empty()) return "is empty";
  if (name.size() > kMaxNameBytes) {
    return absl::StrCat("is ", name.size(), " bytes long (at most ", kMaxNameBytes, ")");
  }
  if (name == "." || name == "..") return "cannot be a directory name";
  if (name.find('/') != std::string::npos) return "cannot contain '/'";
  if (!internal::IsValidUtf8(name)) return "is not valid UTF-8";
  for (size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    const bool c1_control =
        c == 0xC2 && i + 1 < name.size() && static_cast<unsigned char>(name[i + 1]) < 0xA0;
    if (c < 0x20 || c == 0x7F || c1_control) return "contains a control character";
  }
  return "";
}

absl::StatusOr<Layout> Layout::Make(const std::string& config_dir, const LayoutOptions& options) {
  Layout layout;
  layout.config_dir_ = config_dir;
  layout.env_home_ = options.env_home;
  if (options.layout != "state" && options.layout != "mordor") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--layout ", internal::EscapeBytes(options.layout), ": the layouts are state and mordor"));
  }
  layout.mordor_ = options.layout == "mordor";

  std::string app = options.app;
  if (app.empty()) {
    app = BaseName(config_dir);
    if (app == "current") app = BaseName(DirName(config_dir));
  }
  if (std::string problem = NameProblem(app); !problem.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "application name \"", internal::EscapeBytes(app), "\" ", problem,
        options.app.empty() ? " (taken from the config file's directory; pass --app NAME)" : ""));
  }
  layout.app_name_ = app;

  if (layout.mordor_) {
    if (!options.state_dir.empty()) {
      return absl::InvalidArgumentError(
          "--state-dir does not go with --layout mordor (the files go under $ENV_HOME)");
    }
    struct stat st;
    if (options.env_home.empty() || options.env_home[0] != '/') {
      return absl::InvalidArgumentError(absl::StrCat(
          "--layout mordor needs $ENV_HOME set to an absolute directory (mordor's environment "
          "home); it is ",
          options.env_home.empty() ? "unset" : "'" + options.env_home + "'"));
    }
    if (stat(options.env_home.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return absl::NotFoundError(
          absl::StrCat("$ENV_HOME ", options.env_home, " is not an existing directory"));
    }
    layout.root_ = options.env_home;
  } else if (options.state_dir.empty()) {
    layout.root_ = config_dir + "/appkit-state";
    layout.default_root_ = true;
  } else {
    layout.root_ = Absolute(options.state_dir);
  }
  return layout;
}

DaemonFiles Layout::FilesFor(const std::string& name) const {
  DaemonFiles files;
  if (!mordor_) {
    const std::string dir = root_ + "/" + name;
    const std::string base = dir + "/" + name;
    files.pid = base + ".pid";
    files.log = base + ".log";
    files.stdout_file = base + "-out.txt";
    files.stderr_file = base + "-err.txt";
    files.debug = base + "-debug.json";
    files.applied = base + ".applied.json";
    files.dirs = {dir};
    return files;
  }
  const std::string pids = root_ + "/pids/" + app_name_;
  const std::string logs = root_ + "/logs/" + app_name_;
  const std::string status = root_ + "/daemon_status/" + app_name_;
  files.pid = pids + "/" + name + ".pid";
  files.applied = pids + "/" + name + ".applied.json";
  files.log = logs + "/" + name + ".log";
  files.stdout_file = logs + "/" + name + "-out.txt";
  files.stderr_file = logs + "/" + name + "-err.txt";
  files.debug = status + "/" + name + ".json";
  files.dirs = {root_ + "/pids",          pids,  pids + "/" + name,
                root_ + "/logs",          logs,  logs + "/" + name,
                root_ + "/daemon_status", status};
  return files;
}

TemplateContext Layout::Context() const {
  TemplateContext context;
  context["app_name"] = app_name_;
  context["app_dir"] = config_dir_;
  auto under_env_home = [&](const std::string& part) -> absl::StatusOr<std::string> {
    if (env_home_.empty()) {
      return absl::FailedPreconditionError(
          "needs $ENV_HOME (mordor's environment home), which is not set");
    }
    return env_home_ + "/" + part + "/" + app_name_;
  };
  context["cfg_dir"] = under_env_home("configs");
  context["data_dir"] = under_env_home("data");
  if (context["cfg_dir"].ok()) {
    context["stage"] = ReadStage(*context["cfg_dir"]);
  } else {
    context["stage"] = context["cfg_dir"].status();
  }
  if (mordor_) {
    context["log_dir"] = under_env_home("logs");
    context["pid_dir"] = under_env_home("pids");
    context["daemon_status_dir"] = under_env_home("daemon_status");
  } else {
    context["log_dir"] = root_;
    context["pid_dir"] = root_;
    context["daemon_status_dir"] = root_;
  }
  return context;
}

std::vector<std::string> Layout::NamesWithPidFiles() const {
  const std::string dir = mordor_ ? root_ + "/pids/" + app_name_ : root_;
  std::vector<std::string> names;
  DIR* listing = opendir(dir.c_str());
  if (listing == nullptr) return names;
  while (dirent* entry = readdir(listing)) {
    std::string name = entry->d_name;
    if (mordor_) {
      if (!absl::EndsWith(name, ".pid")) continue;
      name.resize(name.size() - 4);
    }
    if (!NameProblem(name).empty()) continue;
    struct stat st;
    if (lstat(FilesFor(name).pid.c_str(), &st) == 0) names.push_back(name);
  }
  closedir(listing);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace appkit::ctl
