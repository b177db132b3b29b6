#include "client/ctl/daemons_config.h"

#include <limits.h>
#include <stdlib.h>

#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/safe_file.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace appkit::ctl {
namespace {

const std::set<std::string>& KnownKeys() {
  static const std::set<std::string> keys = {"entry", "args", "restart_interval_seconds",
                                             "stop_timeout_seconds", "log_level"};
  return keys;
}

std::string Where(const std::string& path, const YAML::Node& node) {
  return absl::StrCat(path, ":", node.Mark().line + 1);
}

// A YAML scalar as JSON: quoted scalars are strings; plain ones are
// null, booleans, integers or floats when they read as such (YAML 1.2
// core schema), else strings.
nlohmann::json ScalarToJson(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return text;
  if (text == "~" || text == "null" || text == "Null" || text == "NULL" || text.empty()) {
    return nullptr;
  }
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  char* end = nullptr;
  errno = 0;
  long long integer = strtoll(text.c_str(), &end, 10);
  if (errno == 0 && end != text.c_str() && *end == '\0') return integer;
  double real = strtod(text.c_str(), &end);
  if (end != text.c_str() && *end == '\0' && std::isfinite(real)) return real;
  return text;
}

nlohmann::json ToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json object = nlohmann::json::object();
      for (const auto& item : node) object[item.first.as<std::string>()] = ToJson(item.second);
      return object;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json array = nlohmann::json::array();
      for (const auto& item : node) array.push_back(ToJson(item));
      return array;
    }
    case YAML::NodeType::Scalar:
      return ScalarToJson(node);
    default:
      return nullptr;
  }
}

// A number of seconds >= 0, or nullopt for null.
absl::StatusOr<std::optional<absl::Duration>> Seconds(const std::string& where,
                                                      const std::string& daemon,
                                                      const std::string& key,
                                                      const YAML::Node& node) {
  nlohmann::json value = ScalarToJson(node);
  if (!node.IsScalar() || value.is_null()) {
    if (node.IsNull() || (node.IsScalar() && value.is_null())) return std::nullopt;
  }
  if (!value.is_number() || value.get<double>() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": daemon '", daemon, "': ", key,
                                                   " must be a number of seconds >= 0 or null, "
                                                   "got '", node.IsScalar() ? node.Scalar() : "?",
                                                   "'"));
  }
  return absl::Seconds(value.get<double>());
}

std::string Absolute(const std::string& path) {
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) != nullptr) return resolved;
  return path;
}

}  // namespace

const NamedDaemon* DaemonsConfig::Find(const std::string& name) const {
  for (const NamedDaemon& daemon : daemons) {
    if (daemon.name == name) return &daemon;
  }
  return nullptr;
}

namespace {

absl::StatusOr<DaemonsConfig> ParseDaemonsConfig(const std::string& path,
                                                 const std::string& state_dir) {
  DaemonsConfig config;
  config.path = Absolute(path);
  config.config_dir = DirName(config.path);
  config.state_dir = state_dir.empty() ? config.config_dir + "/appkit-state" : Absolute(state_dir);

  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":", e.mark.line + 1, ": not valid YAML: ", e.msg));
  }
  if (root.IsNull()) return config;  // an empty file: no daemons
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(path, root), ": the top level must map daemon names to their settings"));
  }
  for (const auto& item : root) {
    const std::string where = Where(path, item.first);
    if (!item.first.IsScalar()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": a daemon name must be a plain name"));
    }
    const std::string name = item.first.Scalar();
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": daemon name '", name, "' cannot be a directory name"));
    }
    const YAML::Node& settings = item.second;
    if (!settings.IsNull() && !settings.IsMap()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": daemon '", name, "': settings must be a mapping"));
    }
    NamedDaemon daemon;
    daemon.name = name;
    daemon.dir = config.state_dir + "/" + name;
    DaemonOptions& options = daemon.options;
    options.daemon_entry = name + ":daemon_entry";
    std::string level = "INFO";
    if (settings.IsMap()) {
      for (const auto& setting : settings) {
        const std::string at = Where(path, setting.first);
        if (!setting.first.IsScalar()) {
          return absl::InvalidArgumentError(
              absl::StrCat(at, ": daemon '", name, "': a setting name must be a plain key"));
        }
        const std::string key = setting.first.Scalar();
        const YAML::Node& value = setting.second;
        if (KnownKeys().count(key) == 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              at, ": daemon '", name, "': unknown key '", key, "' (known: ",
              absl::StrJoin(KnownKeys(), ", "), ")"));
        }
        if (key == "entry" || key == "log_level") {
          if (!value.IsScalar()) {
            return absl::InvalidArgumentError(
                absl::StrCat(at, ": daemon '", name, "': ", key, " must be a string"));
          }
          (key == "entry" ? options.daemon_entry : level) = value.Scalar();
        } else if (key == "args") {
          if (value.IsNull()) continue;
          if (!value.IsMap()) {
            return absl::InvalidArgumentError(
                absl::StrCat(at, ": daemon '", name, "': args must be a mapping"));
          }
          auto args = Args::FromJson(ToJson(value).dump());
          if (!args.ok()) {
            return absl::InvalidArgumentError(
                absl::StrCat(at, ": daemon '", name, "': args: ", args.status().message()));
          }
          options.daemon_args = *args;
        } else {
          auto seconds = Seconds(at, name, key, value);
          if (!seconds.ok()) return seconds.status();
          (key == "restart_interval_seconds" ? options.restart_interval : options.stop_timeout) =
              *seconds;
        }
      }
    }
    const std::string base = daemon.dir + "/" + name;
    options.pid_filename = base + ".pid";
    options.stdout_filename = base + "-out.txt";
    options.stderr_filename = base + "-err.txt";
    daemon.debug_filename = base + "-debug.json";
    // The level is checked here; the log file's directory is created at start.
    nlohmann::json level_only = {{"level", level}};
    auto logging_config = LoggingConfigFromJson(level_only.dump());
    if (!logging_config.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": daemon '", name,
                                                     "': log_level: ",
                                                     logging_config.status().message()));
    }
    logging_config->add_handlers()->mutable_file()->set_filename(base + ".log");
    options.logging_config = *logging_config;
    config.daemons.push_back(std::move(daemon));
  }
  return config;
}

}  // namespace

absl::StatusOr<DaemonsConfig> LoadDaemonsConfig(const std::string& path,
                                                const std::string& state_dir) {
  // yaml-cpp and nlohmann report some problems by throwing (a key of the
  // wrong type deep inside args, bytes that are not UTF-8): an error
  // naming the file, never a crash.
  try {
    return ParseDaemonsConfig(path, state_dir);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":", e.mark.line + 1, ": ", e.msg));
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", e.what()));
  }
}

}  // namespace appkit::ctl
