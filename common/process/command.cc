#include "common/process/command.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/base/errno_status.h"

extern char** environ;

namespace appkit {
namespace {

// Why `path` cannot be run ("" when it can).
std::string NotRunnable(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return absl::StrCat("does not exist (", strerror(errno), ")");
  if (!S_ISREG(st.st_mode)) return "is not a regular file";
  if (access(path.c_str(), X_OK) != 0) return "is not executable";
  return "";
}

std::string Absolute(const std::string& path, const std::string& working_directory) {
  if (!path.empty() && path[0] == '/') return path;
  std::string base = working_directory;
  if (base.empty() || base[0] != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) == nullptr) return path;
    base = base.empty() ? cwd : absl::StrCat(cwd, "/", base);
  }
  return absl::StrCat(base, "/", path);
}

}  // namespace

absl::Status CheckCommandSettings(const std::map<std::string, std::string>& environment,
                                  const std::string& working_directory, const std::string& option) {
  for (const auto& [name, value] : environment) {
    if (name.empty() || name.find('=') != std::string::npos ||
        name.find('\0') != std::string::npos || value.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(option, ": environment variable name '", name,
                       "' is not usable (empty, or holds '=' or a NUL byte)"));
    }
  }
  if (!working_directory.empty()) {
    struct stat st;
    if (stat(working_directory.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat(option, ": working_directory ", working_directory, " is not a directory"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> CheckCommand(const CommandSpec& command, const std::string& option) {
  if (command.argv.empty() || command.argv[0].empty()) {
    return absl::InvalidArgumentError(absl::StrCat(option, " is empty: it needs a program"));
  }
  for (const std::string& arg : command.argv) {
    if (arg.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(option, ": argument '", arg, "' holds a NUL byte"));
    }
  }
  if (absl::Status settings =
          CheckCommandSettings(command.environment, command.working_directory, option);
      !settings.ok()) {
    return settings;
  }
  const std::string& program = command.argv[0];
  if (program.find('/') != std::string::npos) {
    const std::string path = Absolute(program, command.working_directory);
    if (std::string why = NotRunnable(path); !why.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(option, ": program ", program, " (", path, ") ", why));
    }
    return path;
  }
  auto path_var = command.environment.find("PATH");
  const char* inherited = getenv("PATH");
  const std::string search = path_var != command.environment.end()
                                 ? path_var->second
                                 : (inherited != nullptr ? inherited : "/usr/bin:/bin");
  for (absl::string_view dir : absl::StrSplit(search, ':', absl::SkipEmpty())) {
    const std::string path = Absolute(absl::StrCat(dir, "/", program), command.working_directory);
    if (NotRunnable(path).empty()) return path;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      option, ": program ", program, " not found as an executable in PATH (", search, ")"));
}

absl::Status ExecCommand(const std::string& program, const CommandSpec& command,
                         const std::string& notify_socket) {
  if (!command.working_directory.empty() && chdir(command.working_directory.c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("cannot run ", program, ": working_directory ",
                                           command.working_directory));
  }
  for (const auto& [name, value] : command.environment) setenv(name.c_str(), value.c_str(), 1);
  if (!notify_socket.empty()) setenv("NOTIFY_SOCKET", notify_socket.c_str(), 1);
  struct sigaction action = {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &action, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  std::vector<char*> argv;
  for (const std::string& arg : command.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  execve(program.c_str(), argv.data(), environ);
  return ErrnoStatus(errno, absl::StrCat("cannot run ", program));
}

}  // namespace appkit
