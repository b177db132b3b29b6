#include "client/ctl/daemons_config.h"

#include <limits.h>
#include <stdlib.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/safe_file.h"
#include "common/fd_io.h"
#include "common/option_checks.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/depthguard.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/yaml.h"

namespace appkit::ctl {
namespace {

using internal::EscapeBytes;

const std::set<std::string>& KnownKeys() {
  static const std::set<std::string> keys = {"entry", "args", "restart_interval_seconds",
                                             "stop_timeout_seconds", "log_level"};
  return keys;
}

std::string Where(const std::string& path, const YAML::Mark& mark) {
  return absl::StrCat(path, ":", mark.line + 1);
}

std::string Where(const std::string& path, const YAML::Node& node) {
  return Where(path, node.Mark());
}

// A hostile value shown in an error: escaped, and cut when long.
std::string Shown(const std::string& text) {
  constexpr size_t kShown = 100;
  if (text.size() <= kShown) return EscapeBytes(text);
  return absl::StrCat(EscapeBytes(text.substr(0, kShown)), "... (", text.size(), " bytes)");
}

// --- Bounds: what a hostile file may cost -------------------------------

// The file itself.
constexpr size_t kMaxFileBytes = 16 << 20;
// Values (scalars, lists, maps) in the document, and after expanding its
// aliases (yaml-cpp shares an aliased node; converting it to JSON copies
// it, so nine aliases of nine aliases of ... are a billion values).
constexpr size_t kMaxValues = 100000;
// Bytes of scalars after expanding aliases.
constexpr size_t kMaxExpandedBytes = 16 << 20;
// A daemon name: a directory and file name part, and shown in `ps`.
constexpr size_t kMaxNameBytes = 64;

// Thrown out of yaml-cpp's event parser when the document has too many
// values: counted before yaml-cpp builds its tree (about 500 bytes a value).
struct TooManyValues {
  YAML::Mark mark;
};

class ValueCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { Count(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Count(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Count(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Count(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Count(mark);
  }
  void OnMapEnd() override {}

 private:
  void Count(const YAML::Mark& mark) {
    if (++count_ > kMaxValues) throw TooManyValues{mark};
  }
  size_t count_ = 0;
};

// What converting args to JSON may still spend, for the whole file.
struct Budget {
  size_t values = kMaxValues;
  size_t bytes = kMaxExpandedBytes;
};

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

absl::Status TooMuchText(const std::string& path, const YAML::Node& node) {
  return absl::InvalidArgumentError(absl::StrCat(
      Where(path, node), ": args expand to more than ", kMaxExpandedBytes >> 20,
      " MiB of text (a YAML alias bomb?): the file is refused"));
}

// `node` as JSON, within `budget` and kMaxArgsDepth (`depth` is this
// node's). Errors name the line of the node where a bound was reached.
absl::StatusOr<nlohmann::json> ToJson(const std::string& path, const YAML::Node& node, int depth,
                                      Budget& budget) {
  if (budget.values == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(path, node), ": args expand to more than ", kMaxValues,
        " values (a YAML alias bomb?): the file is refused"));
  }
  --budget.values;
  if ((node.IsMap() || node.IsSequence()) && depth > kMaxArgsDepth) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(path, node), ": args nest deeper than ", kMaxArgsDepth,
        " levels of mappings and lists"));
  }
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json object = nlohmann::json::object();
      for (const auto& item : node) {
        if (!item.first.IsScalar()) {
          return absl::InvalidArgumentError(
              absl::StrCat(Where(path, item.first), ": args: a key must be a plain string"));
        }
        const std::string& key = item.first.Scalar();
        if (key.size() > budget.bytes) return TooMuchText(path, item.first);
        budget.bytes -= key.size();
        auto value = ToJson(path, item.second, depth + 1, budget);
        if (!value.ok()) return value.status();
        object[key] = std::move(*value);
      }
      return object;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json array = nlohmann::json::array();
      for (const auto& item : node) {
        auto value = ToJson(path, item, depth + 1, budget);
        if (!value.ok()) return value.status();
        array.push_back(std::move(*value));
      }
      return array;
    }
    case YAML::NodeType::Scalar:
      if (node.Scalar().size() > budget.bytes) return TooMuchText(path, node);
      budget.bytes -= node.Scalar().size();
      return ScalarToJson(node);
    default:
      return nullptr;
  }
}

// A number of seconds in [0, kMaxOptionDuration], or nullopt for null.
absl::StatusOr<std::optional<absl::Duration>> Seconds(const std::string& where,
                                                      const std::string& daemon,
                                                      const std::string& key,
                                                      const YAML::Node& node) {
  if (node.IsNull()) return std::nullopt;
  const std::string text = node.IsScalar() ? node.Scalar() : "";
  nlohmann::json value = node.IsScalar() ? ScalarToJson(node) : nlohmann::json("?");
  if (node.IsScalar() && value.is_null()) return std::nullopt;
  const int64_t max_seconds = absl::ToInt64Seconds(internal::kMaxOptionDuration);
  // "-0" too: a sign on a duration is a mistake, whatever the number.
  if (!value.is_number() || value.get<double>() < 0 || text.rfind('-', 0) == 0 ||
      value.get<double>() > static_cast<double>(max_seconds)) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": daemon '", daemon, "': ", key, " must be a number of seconds from 0 to ",
        max_seconds, " (365 days), or null; got '", node.IsScalar() ? Shown(text) : "?", "'"));
  }
  return absl::Seconds(value.get<double>());
}

// Why `name` cannot name a daemon (its directory, its files, `ps`), or "".
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

std::string Absolute(const std::string& path) {
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) != nullptr) return resolved;
  return path;
}

// The file's text, at most kMaxFileBytes.
absl::StatusOr<std::string> ReadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  std::string text(kMaxFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat("config file ", path, " is larger than ",
                                                   kMaxFileBytes >> 20, " MiB: refused"));
  }
  return text;
}

}  // namespace

const NamedDaemon* DaemonsConfig::Find(const std::string& name) const {
  for (const NamedDaemon& daemon : daemons) {
    if (daemon.name == name) return &daemon;
  }
  return nullptr;
}

namespace {

// The document's tree, once its values are counted.
absl::StatusOr<YAML::Node> LoadDocument(const std::string& path) {
  auto text = ReadConfigFile(path);
  if (!text.ok()) return text.status();
  try {
    {
      std::istringstream stream(*text);
      YAML::Parser parser(stream);
      ValueCounter counter;
      parser.HandleNextDocument(counter);
    }
    return YAML::Load(*text);
  } catch (const TooManyValues& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(path, e.mark), ": more than ", kMaxValues, " values: the file is refused"));
  } catch (const YAML::DeepRecursion& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ":", e.mark.line + 1, ": nested too deep for the YAML parser (more than ",
        e.depth(), " levels): the file is refused"));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":", e.mark.line + 1, ": not valid YAML: ", e.msg));
  }
}

absl::StatusOr<DaemonsConfig> ParseDaemonsConfig(const std::string& path,
                                                 const std::string& state_dir) {
  DaemonsConfig config;
  config.path = Absolute(path);
  config.config_dir = DirName(config.path);
  config.state_dir = state_dir.empty() ? config.config_dir + "/appkit-state" : Absolute(state_dir);

  absl::StatusOr<YAML::Node> document = LoadDocument(path);
  if (!document.ok()) return document.status();
  const YAML::Node& root = *document;
  if (root.IsNull()) return config;  // an empty file: no daemons
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(path, root), ": the top level must map daemon names to their settings"));
  }
  Budget budget;
  for (const auto& item : root) {
    const std::string where = Where(path, item.first);
    if (!item.first.IsScalar()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": a daemon name must be a plain name"));
    }
    const std::string name = item.first.Scalar();
    if (std::string problem = NameProblem(name); !problem.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": daemon name \"", Shown(name), "\" ", problem));
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
              at, ": daemon '", name, "': unknown key '", Shown(key), "' (known: ",
              absl::StrJoin(KnownKeys(), ", "), ")"));
        }
        if (key == "entry" || key == "log_level") {
          if (!value.IsScalar()) {
            return absl::InvalidArgumentError(
                absl::StrCat(at, ": daemon '", name, "': ", key, " must be a string"));
          }
          if (!internal::IsValidUtf8(value.Scalar())) {
            return absl::InvalidArgumentError(absl::StrCat(at, ": daemon '", name, "': ", key,
                                                           " \"", Shown(value.Scalar()),
                                                           "\" is not valid UTF-8"));
          }
          (key == "entry" ? options.daemon_entry : level) = value.Scalar();
        } else if (key == "args") {
          if (value.IsNull()) continue;
          if (!value.IsMap()) {
            return absl::InvalidArgumentError(
                absl::StrCat(at, ": daemon '", name, "': args must be a mapping"));
          }
          auto json = ToJson(path, value, 1, budget);
          if (!json.ok()) {
            return absl::InvalidArgumentError(
                absl::StrCat(json.status().message(), " (daemon '", name, "')"));
          }
          auto args = Args::FromJson(json->dump());
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
