#include "client/daemon_name.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/host/option_checks.h"

namespace appkit::internal {

absl::StatusOr<std::string> DaemonNameOf(const std::string& name, const std::string& pid_filename) {
  std::string value = name;
  std::string what = "DaemonOptions.name";
  if (value.empty()) {
    const size_t slash = pid_filename.rfind('/');
    value = slash == std::string::npos ? pid_filename : pid_filename.substr(slash + 1);
    if (absl::EndsWith(value, ".pid")) value.resize(value.size() - 4);
    what = absl::StrCat("DaemonOptions.name (unset: the pid file ", pid_filename,
                        "'s name without .pid)");
  }
  if (value.empty()) return absl::InvalidArgumentError(what + " is empty: set DaemonOptions.name");
  if (value.size() > kMaxDaemonName) {
    return absl::InvalidArgumentError(absl::StrCat(what, " '", EscapeBytes(value), "' is ",
                                                   value.size(), " bytes long; at most ",
                                                   kMaxDaemonName));
  }
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f || c == '/') {
      return absl::InvalidArgumentError(absl::StrCat(what, " '", EscapeBytes(value), "' has ",
                                                     c == '/' ? "a '/'" : "a control character",
                                                     " (it names the processes in ps)"));
    }
  }
  return value;
}

}  // namespace appkit::internal
