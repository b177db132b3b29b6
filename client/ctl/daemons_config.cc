#include "client/ctl/daemons_config.h"

#include <limits.h>
#include <stdlib.h>

#include <cmath>
#include <fstream>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/ctl/command_config.h"
#include "client/ctl/mordor_template.h"
#include "client/ctl/yaml_values.h"
#include "common/base/safe_file.h"
#include "common/host/option_checks.h"

namespace appkit::ctl {
namespace {

using internal::EscapeBytes;
using Json = nlohmann::json;

// The file itself.
constexpr size_t kMaxFileBytes = 16 << 20;

const std::set<std::string>& KnownKeys() {
  static const std::set<std::string> keys = {
      "entry", "description", "args", "restart_interval_seconds", "stop_timeout_seconds",
      "log_level",
      // SPEC §10 (command_config.h).
      "command", "environment", "env_file", "working_directory",
      "health_listen",  // SPEC §10: "host:port", checked when it starts
  };
  return keys;
}

// A hostile value shown in an error: escaped, and cut when long.
std::string Shown(const std::string& text) {
  constexpr size_t kShown = 100;
  if (text.size() <= kShown) return EscapeBytes(text);
  return absl::StrCat(EscapeBytes(text.substr(0, kShown)), "... (", text.size(), " bytes)");
}

absl::Status Invalid(const std::string& where, const std::string& daemon, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": daemon '", daemon, "': ", why));
}

// A number of seconds in [0, kMaxOptionDuration], or nullopt for null. A
// plain scalar that reads as a decimal number counts (1e3: PyYAML reads a
// string, which mordor's float field then takes).
absl::StatusOr<std::optional<absl::Duration>> Seconds(const std::string& path,
                                                      const std::string& daemon,
                                                      const std::string& key,
                                                      const YAML::Node& node) {
  if (node.IsNull()) return std::nullopt;
  const std::string where = Where(path, node);
  const std::string text = node.IsScalar() ? node.Scalar() : "";
  Json value = "?";
  if (node.IsScalar()) {
    auto scalar = ScalarToJson(path, node);
    if (scalar.ok()) value = *scalar;
    if (value.is_null()) return std::nullopt;
    if (value.is_string() && node.Tag() == "?") {
      char* end = nullptr;
      const double number = strtod(text.c_str(), &end);
      if (!text.empty() && end == text.c_str() + text.size()) value = number;
    }
  }
  const int64_t max_seconds = absl::ToInt64Seconds(internal::kMaxOptionDuration);
  // "-0" too: a sign on a duration is a mistake, whatever the number.
  if (!value.is_number() || !std::isfinite(value.get<double>()) || value.get<double>() < 0 ||
      text.rfind('-', 0) == 0 || value.get<double>() > static_cast<double>(max_seconds)) {
    return Invalid(
        where, daemon,
        absl::StrCat(key, " must be a number of seconds from 0 to ", max_seconds,
                     " (365 days), or null; got '", node.IsScalar() ? Shown(text) : "?", "'"));
  }
  return absl::Seconds(value.get<double>());
}

std::string Absolute(const std::string& path) {
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) != nullptr) return resolved;
  return path;
}

// The file's text, at most kMaxFileBytes.
absl::StatusOr<std::string> ReadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  // In chunks: a buffer of the whole bound up front costs its page faults
  // (~10 ms for 16 MiB) on every command.
  std::string text;
  char chunk[64 << 10];
  while (text.size() <= kMaxFileBytes && in.read(chunk, sizeof(chunk)).gcount() > 0) {
    text.append(chunk, static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  if (text.size() > kMaxFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat("config file ", path, " is larger than ",
                                                   kMaxFileBytes >> 20, " MiB: refused"));
  }
  return text;
}

// A string setting (entry, log_level, description).
absl::StatusOr<std::string> StringSetting(const std::string& path, const std::string& daemon,
                                          const std::string& key, const YAML::Node& value) {
  if (!value.IsScalar()) return Invalid(Where(path, value), daemon, key + " must be a string");
  if (!internal::IsValidUtf8(value.Scalar())) {
    return Invalid(Where(path, value), daemon,
                   absl::StrCat(key, " \"", Shown(value.Scalar()), "\" is not valid UTF-8"));
  }
  return value.Scalar();
}

// A path in daemons.yaml: relative to the config file's directory.
std::string FromConfigDir(const DaemonsConfig& config, const std::string& path) {
  return path.empty() || path[0] == '/' ? path : absl::StrCat(config.config_dir, "/", path);
}

// `command`: a list of strings, or one string split as a shell would.
absl::StatusOr<std::vector<std::string>> CommandSetting(const std::string& path,
                                                        const std::string& daemon,
                                                        const YAML::Node& value) {
  const std::string at = Where(path, value);
  std::vector<std::string> argv;
  if (value.IsSequence()) {
    for (const YAML::Node& item : value) {
      auto arg = StringSetting(path, daemon, "each command argument", item);
      if (!arg.ok()) return arg.status();
      argv.push_back(*arg);
    }
    if (argv.empty()) return Invalid(at, daemon, "command is an empty list");
    return argv;
  }
  auto text = StringSetting(path, daemon, "command (a list, or a string)", value);
  if (!text.ok()) return text.status();
  auto split = SplitCommandLine(*text);
  if (!split.ok()) {
    return Invalid(at, daemon,
                   absl::StrCat("command '", Shown(*text), "': ", split.status().message()));
  }
  return *split;
}

// `environment`: a mapping of names to scalars (their text, as written).
absl::Status EnvironmentSetting(const std::string& path, const std::string& daemon,
                                const YAML::Node& value, YamlBudget& budget,
                                std::map<std::string, std::string>& env) {
  if (value.IsNull()) return absl::OkStatus();
  if (!value.IsMap()) return Invalid(Where(path, value), daemon, "environment must be a mapping");
  auto entries = FlattenMapping(path, value, budget);
  if (!entries.ok()) return entries.status();
  for (const auto& [key, item] : *entries) {
    auto name = StringSetting(path, daemon, "an environment name", key);
    if (!name.ok()) return name.status();
    if (item.IsNull()) {
      env[*name] = "";
      continue;
    }
    auto text = StringSetting(path, daemon, absl::StrCat("environment ", *name), item);
    if (!text.ok()) return text.status();
    env[*name] = *text;
  }
  return absl::OkStatus();
}

// One daemon's settings; `where` is its name's line.
absl::StatusOr<NamedDaemon> ParseDaemon(const DaemonsConfig& config, const std::string& name,
                                        const std::string& where, const YAML::Node& settings,
                                        YamlBudget& budget) {
  const std::string& path = config.path;
  NamedDaemon daemon;
  daemon.name = name;
  daemon.files = config.layout.FilesFor(name);
  daemon.dir = DirName(daemon.files.pid);
  daemon.debug_filename = daemon.files.debug;
  DaemonOptions& options = daemon.options;
  options.daemon_entry = name + ":daemon_entry";
  std::string level = "INFO";
  Json args = Json::object();
  if (!settings.IsNull() && !settings.IsMap()) {
    return Invalid(where, name, "settings must be a mapping");
  }
  YamlEntries entries;
  if (settings.IsMap()) {
    auto flattened = FlattenMapping(path, settings, budget);
    if (!flattened.ok()) return flattened.status();
    entries = std::move(*flattened);
  }
  bool entry_given = false;
  std::map<std::string, std::string> environment;  // `environment`: wins over env_file
  std::map<std::string, std::string> from_files;   // env_file, in order
  for (const auto& [key_node, value] : entries) {
    const std::string at = Where(path, key_node);
    if (!key_node.IsScalar()) return Invalid(at, name, "a setting name must be a plain key");
    const std::string key = key_node.Scalar();
    if (KnownKeys().count(key) == 0) {
      return Invalid(at, name,
                     absl::StrCat("unknown key '", Shown(key),
                                  "' (known: ", absl::StrJoin(KnownKeys(), ", "), ")"));
    }
    if (key == "command") {
      auto argv = CommandSetting(path, name, value);
      if (!argv.ok()) return argv.status();
      options.command = std::move(*argv);
      continue;
    }
    if (key == "environment") {
      if (absl::Status s = EnvironmentSetting(path, name, value, budget, environment); !s.ok()) {
        return s;
      }
      continue;
    }
    if (key == "env_file") {
      std::vector<YAML::Node> files;
      if (value.IsSequence()) {
        for (const YAML::Node& item : value) files.push_back(item);
      } else {
        files.push_back(value);
      }
      for (const YAML::Node& file : files) {
        auto file_path = StringSetting(path, name, "env_file (a path, or a list of paths)", file);
        if (!file_path.ok()) return file_path.status();
        auto env = ParseEnvFile(FromConfigDir(config, *file_path));
        if (!env.ok()) {
          return Invalid(Where(path, file), name, std::string(env.status().message()));
        }
        for (auto& [env_name, env_value] : *env) from_files[env_name] = std::move(env_value);
      }
      continue;
    }
    if (key == "working_directory") {
      auto dir = StringSetting(path, name, key, value);
      if (!dir.ok()) return dir.status();
      options.working_directory = FromConfigDir(config, *dir);
      continue;
    }
    if (key == "health_listen") {
      auto text = StringSetting(path, name, key, value);
      if (!text.ok()) return text.status();
      options.health_listen = *text;
      continue;
    }
    if (key == "entry") entry_given = true;
    if (key == "entry" || key == "log_level" || key == "description") {
      auto text = StringSetting(path, name, key, value);
      if (!text.ok()) return text.status();
      (key == "entry"       ? options.daemon_entry
       : key == "log_level" ? level
                            : daemon.description) = *text;
    } else if (key == "args") {
      if (value.IsNull()) {
        args = Json::object();
        continue;
      }
      if (!value.IsMap()) return Invalid(at, name, "args must be a mapping");
      auto json = YamlToJson(path, value, 1, kMaxArgsDepth, budget);
      if (!json.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(json.status().message(), " (daemon '", name, "')"));
      }
      args = std::move(*json);
    } else {
      auto seconds = Seconds(path, name, key, value);
      if (!seconds.ok()) return seconds.status();
      (key == "restart_interval_seconds" ? options.restart_interval : options.stop_timeout) =
          *seconds;
    }
  }
  for (auto& [env_name, env_value] : environment) from_files[env_name] = std::move(env_value);
  options.environment = std::move(from_files);
  if (!options.command.empty()) {
    if (entry_given) {
      return Invalid(where, name,
                     absl::StrCat("entry '", options.daemon_entry,
                                  "' and command are both set: give exactly one"));
    }
    options.daemon_entry.clear();
    // A relative program path: from the working directory, else the
    // config file's directory (not wherever appkitctl runs).
    std::string& program = options.command[0];
    if (program.find('/') != std::string::npos && options.working_directory.empty()) {
      program = FromConfigDir(config, program);
    }
  }
  // As mordor does: the entry learns which application and daemon it is.
  args["app_name"] = config.layout.app_name();
  args["daemon_name"] = name;
  auto parsed_args = Args::FromJson(args.dump());
  if (!parsed_args.ok()) {
    return Invalid(where, name, absl::StrCat("args: ", parsed_args.status().message()));
  }
  options.daemon_args = *parsed_args;
  options.pid_filename = daemon.files.pid;
  options.stdout_filename = daemon.files.stdout_file;
  options.stderr_filename = daemon.files.stderr_file;
  // The level is checked here; the log file's directory is created at start.
  auto logging_config = LoggingConfigFromJson(Json{{"level", level}}.dump());
  if (!logging_config.ok()) {
    return Invalid(where, name, absl::StrCat("log_level: ", logging_config.status().message()));
  }
  logging_config->add_handlers()->mutable_file()->set_filename(daemon.files.log);
  options.logging_config = *logging_config;
  auto seconds = [](const std::optional<absl::Duration>& d) {
    return d ? Json(absl::ToDoubleSeconds(*d)) : Json(nullptr);
  };
  daemon.settings = {{"entry", options.daemon_entry},
                     {"args", args},
                     {"restart_interval_seconds", seconds(options.restart_interval)},
                     {"stop_timeout_seconds", seconds(options.stop_timeout)},
                     {"log_level", level}};
  if (!options.command.empty()) daemon.settings["command"] = options.command;
  if (!options.environment.empty()) daemon.settings["environment"] = options.environment;
  if (!options.working_directory.empty()) {
    daemon.settings["working_directory"] = options.working_directory;
  }
  if (!options.health_listen.empty()) daemon.settings["health_listen"] = options.health_listen;
  return daemon;
}

absl::StatusOr<DaemonsConfig> ParseDaemonsConfig(const std::string& path,
                                                 const LayoutOptions& options) {
  DaemonsConfig config;
  config.path = Absolute(path);
  config.config_dir = DirName(config.path);
  auto layout = Layout::Make(config.config_dir, options);
  if (!layout.ok()) return layout.status();
  config.layout = *layout;
  config.state_dir = config.layout.root();

  auto text = ReadConfigFile(path);
  if (!text.ok()) return text.status();
  // A hostile file is refused before anything else reads it.
  if (absl::Status bounds = CheckYamlBounds(path, *text); !bounds.ok()) return bounds;
  auto rendered = RenderTemplate(path, *text, config.layout.Context());
  if (!rendered.ok()) return rendered.status();
  absl::StatusOr<YAML::Node> document = ParseYamlDocument(path, *rendered);
  if (!document.ok()) return document.status();
  const YAML::Node& root = *document;
  if (root.IsNull()) return config;  // an empty file: no daemons
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(path, root), ": the top level must map daemon names to their settings"));
  }
  YamlBudget budget;
  auto entries = FlattenMapping(path, root, budget);
  if (!entries.ok()) return entries.status();
  for (const auto& [key, settings] : *entries) {
    const std::string where = Where(path, key);
    if (!key.IsScalar()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": a daemon name must be a plain name"));
    }
    const std::string name = key.Scalar();
    if (std::string problem = NameProblem(name); !problem.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": daemon name \"", Shown(name), "\" ", problem));
    }
    auto daemon = ParseDaemon(config, name, where, settings, budget);
    if (!daemon.ok()) return daemon.status();
    // A name given twice: the later wins, in the earlier's place (PyYAML).
    bool replaced = false;
    for (NamedDaemon& existing : config.daemons) {
      if (existing.name == name) {
        existing = std::move(*daemon);
        replaced = true;
        break;
      }
    }
    if (!replaced) config.daemons.push_back(std::move(*daemon));
  }
  return config;
}

}  // namespace

const NamedDaemon* DaemonsConfig::Find(const std::string& name) const {
  for (const NamedDaemon& daemon : daemons) {
    if (daemon.name == name) return &daemon;
  }
  return nullptr;
}

absl::StatusOr<DaemonsConfig> LoadDaemonsConfig(const std::string& path,
                                                const LayoutOptions& options) {
  // yaml-cpp and nlohmann report some problems by throwing (a key of the
  // wrong type deep inside args, bytes that are not UTF-8): an error
  // naming the file, never a crash.
  try {
    return ParseDaemonsConfig(path, options);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ":", e.mark.line + 1, ": ", e.msg));
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", e.what()));
  }
}

absl::StatusOr<DaemonsConfig> LoadDaemonsConfig(const std::string& path,
                                                const std::string& state_dir) {
  LayoutOptions options;
  options.state_dir = state_dir;
  return LoadDaemonsConfig(path, options);
}

}  // namespace appkit::ctl
