#include "client/ctl/ctl_args.h"

#include <stdlib.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/host/option_checks.h"

namespace appkit::ctl {
namespace {

enum class Kind { kBool, kString, kLines, kDuration };

struct Option {
  const char* name;  // long name, with dashes
  char short_name;   // 0: none
  Kind kind;
  const char* value_name;
  const char* help;
};

const std::vector<Option>& Options() {
  static const std::vector<Option> options = {
      {"pid-file", 0, Kind::kString, "F", "the daemon's pid file"},
      {"socket", 0, Kind::kString, "S", "its control socket (default: <pid file>.sock)"},
      {"config", 0, Kind::kString, "F",
       "a daemons.yaml (default: ./daemons.yaml when there is one and no --pid-file)"},
      {"state-dir", 0, Kind::kString, "DIR",
       "with --config: where each daemon's files live (default: appkit-state next to it)"},
      {"layout", 0, Kind::kString, "L",
       "with --config: state (default) or mordor ($ENV_HOME/pids/<app>, logs/<app>, ...)"},
      {"app", 0, Kind::kString, "NAME",
       "with --config: the application's name (default: the config's directory name, or its "
       "parent's when that is named current)"},
      {"all", 0, Kind::kBool, nullptr, "every daemon of the config file"},
      {"json", 0, Kind::kBool, nullptr, "print JSON (pretty, pids as numbers)"},
      {"timeout", 0, Kind::kDuration, "D", "how long stop waits for a daemon to end (10s)"},
      {"worker", 0, Kind::kString, "W", "logs: a worker's files instead of the daemon's"},
      {"stdout", 0, Kind::kBool, nullptr, "logs: the stdout file"},
      {"stderr", 0, Kind::kBool, nullptr, "logs: the stderr file"},
      {"workers", 0, Kind::kBool, nullptr, "watch: the worker pool's events too"},
      {"entry", 0, Kind::kString, "E", "worker add: the worker's entry (module:function)"},
      {"env", 0, Kind::kString, "K=V",
       "worker add: a variable for the worker (repeat it for more)"},
      {"working-directory", 0, Kind::kString, "DIR", "worker add: the worker's directory"},
      {"worker-pid-file", 0, Kind::kString, "F", "worker add: the worker's pid file (required)"},
      {"stdout-file", 0, Kind::kString, "F",
       "worker add: its stdout (default /dev/null; /dev/stdout: the daemon's)"},
      {"stderr-file", 0, Kind::kString, "F",
       "worker add: its stderr (default /dev/null; /dev/stderr: the daemon's)"},
      {"lines", 'n', Kind::kLines, "N", "logs: the last N lines (10; 0: none)"},
      {"follow", 'f', Kind::kBool, nullptr,
       "logs: keep printing what is written, across log rotation, until interrupted"},
      {"help", 'h', Kind::kBool, nullptr, "print the commands and options, exit 0"},
  };
  return options;
}

absl::Status Usage(const std::string& why) { return absl::InvalidArgumentError(why); }

absl::Status SetValue(const Option& option, const std::string& value, CtlArgs& out) {
  const std::string name = option.name;
  out.given.insert(name);
  switch (option.kind) {
    case Kind::kBool: {
      const std::string lower = absl::AsciiStrToLower(value);
      if (lower != "true" && lower != "false" && lower != "1" && lower != "0") {
        return Usage(
            absl::StrCat("--", name, " takes no value (got '", internal::EscapeBytes(value), "')"));
      }
      const bool on = lower == "true" || lower == "1";
      if (name == "json") out.json = on;
      if (name == "all") out.all = on;
      if (name == "help") out.help = on;
      if (name == "follow") out.follow = on;
      if (name == "stdout") out.stdout_stream = on;
      if (name == "stderr") out.stderr_stream = on;
      if (name == "workers") out.workers = on;
      return absl::OkStatus();
    }
    case Kind::kString:
      if (name == "pid-file") out.pid_file = value;
      if (name == "socket") out.socket = value;
      if (name == "config") out.config = value;
      if (name == "state-dir") out.state_dir = value;
      if (name == "layout") out.layout = value;
      if (name == "app") out.app = value;
      if (name == "worker") out.worker = value;
      if (name == "entry") out.entry = value;
      if (name == "working-directory") out.working_directory = value;
      if (name == "worker-pid-file") out.worker_pid_file = value;
      if (name == "stdout-file") out.stdout_file = value;
      if (name == "stderr-file") out.stderr_file = value;
      if (name == "env") {
        if (value.find('=') == std::string::npos || value[0] == '=') {
          return Usage(
              absl::StrCat("--env takes KEY=VALUE, got '", internal::EscapeBytes(value), "'"));
        }
        out.env.push_back(value);
      }
      return absl::OkStatus();
    case Kind::kLines:
      if (!absl::SimpleAtoi(value, &out.lines) || out.lines < 0) {
        return Usage(absl::StrCat("-n takes a number of lines (0 or more), got '",
                                  internal::EscapeBytes(value), "'"));
      }
      return absl::OkStatus();
    case Kind::kDuration: {
      double seconds = 0;
      if (absl::SimpleAtod(value, &seconds)) {
        out.timeout = absl::Seconds(seconds);
      } else if (!absl::ParseDuration(value, &out.timeout)) {
        out.timeout = -absl::Seconds(1);
      }
      if (out.timeout < absl::ZeroDuration() || out.timeout > internal::kMaxOptionDuration) {
        return Usage(absl::StrCat("--", name, " takes a duration such as 10s, 500ms or 2m, got '",
                                  internal::EscapeBytes(value), "'"));
      }
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

const Option* FindLong(const std::string& name) {
  for (const Option& option : Options()) {
    if (name == option.name) return &option;
  }
  return nullptr;
}

const Option* FindShort(char name) {
  for (const Option& option : Options()) {
    if (option.short_name != 0 && option.short_name == name) return &option;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<CtlArgs> ParseCtlArgs(const std::vector<std::string>& args) {
  CtlArgs out;
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto next_value = [&](const std::string& shown) -> absl::StatusOr<std::string> {
      if (i + 1 >= args.size()) return Usage(absl::StrCat(shown, " needs a value"));
      return args[++i];
    };
    if (options_done || arg.size() < 2 || arg[0] != '-') {
      if (out.command.empty()) {
        out.command = arg;
      } else {
        out.operands.push_back(arg);
      }
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (arg[1] == '-') {
      const size_t equals = arg.find('=');
      std::string name =
          arg.substr(2, equals == std::string::npos ? std::string::npos : equals - 2);
      std::replace(name.begin(), name.end(), '_', '-');
      const Option* option = FindLong(name);
      if (option == nullptr) {
        return Usage(absl::StrCat("unknown option '", internal::EscapeBytes(arg), "'"));
      }
      std::string value = option->kind == Kind::kBool ? "true" : "";
      if (equals != std::string::npos) {
        value = arg.substr(equals + 1);
      } else if (option->kind != Kind::kBool) {
        auto taken = next_value("--" + name);
        if (!taken.ok()) return taken.status();
        value = *taken;
      }
      if (absl::Status set = SetValue(*option, value, out); !set.ok()) return set;
      continue;
    }
    // Short options, possibly clustered: -f, -n5, -fn 5.
    for (size_t j = 1; j < arg.size(); ++j) {
      const Option* option = FindShort(arg[j]);
      if (option == nullptr) {
        return Usage(absl::StrCat("unknown option '-", internal::EscapeBytes(arg.substr(j, 1)),
                                  "' in '", internal::EscapeBytes(arg), "'"));
      }
      if (option->kind == Kind::kBool) {
        if (absl::Status set = SetValue(*option, "true", out); !set.ok()) return set;
        continue;
      }
      std::string value = arg.substr(j + 1);
      if (value.empty()) {
        auto taken = next_value(std::string("-") + arg[j]);
        if (!taken.ok()) return taken.status();
        value = *taken;
      }
      if (absl::Status set = SetValue(*option, value, out); !set.ok()) return set;
      break;
    }
  }
  return out;
}

std::string OptionsHelp() {
  std::string text;
  for (const Option& option : Options()) {
    std::string left = absl::StrCat("  --", option.name);
    if (option.short_name != 0)
      left = absl::StrCat("  -", std::string(1, option.short_name), ", --", option.name);
    if (option.value_name != nullptr) absl::StrAppend(&left, " ", option.value_name);
    left.resize(std::max<size_t>(left.size() + 2, 24), ' ');
    absl::StrAppend(&text, left, option.help, "\n");
  }
  return text;
}

}  // namespace appkit::ctl
