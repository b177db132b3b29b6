#include "common/host/host.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/base/log.h"
#include "common/base/safe_file.h"
#include "common/host/repository_name.h"
#include "common/process/stdio_files.h"
#include "common/runtime/quit.h"
#include "spdlog/spdlog.h"
#include "tools/cpp/runfiles/runfiles.h"

namespace appkit::internal {
namespace {

int g_hup_pipe_write = -1;

std::mutex& HookMutex() {
  static std::mutex* mu = new std::mutex();
  return *mu;
}

std::function<void()>& Hook() {
  static std::function<void()>* hook = new std::function<void()>();
  return *hook;
}

void OnHangup(int) {
  int saved = errno;
  char byte = 1;
  (void)!write(g_hup_pipe_write, &byte, 1);
  errno = saved;
}

struct BinaryState {
  std::mutex mu;
  std::map<std::string, std::string> overrides;
  std::string controller_socket;
  std::string entry_module_dir;
};

BinaryState& Binaries() {
  static BinaryState* state = new BinaryState();
  return *state;
}

// A regular file we may use: a binary must be executable, a shared
// library (the plugin) only readable, as `install -m 644` leaves it.
bool IsUsable(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  return access(path.c_str(), absl::EndsWith(path, ".so") ? R_OK : X_OK) == 0;
}

std::string SelfPath() {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return "";
  exe[n] = '\0';
  return exe;
}

}  // namespace

absl::Status StartHost(const HostConfig& config) {
  // stdout is a file, so stdio would buffer it by the 4 KiB block: a
  // line printed just before a crash would be lost. Line-buffered, it is
  // written when the line ends (stderr is unbuffered already).
  setvbuf(stdout, nullptr, _IOLBF, 0);
  InstallQuitSignalHandler(config.forward_quit_to);
  absl::Status logging = ConfigureLogging(config.logging, config.role);
  if (!logging.ok()) return logging;

  int fds[2];
  // Non-blocking: the handler must never block; a SIGHUP that finds the
  // pipe full is coalesced with the ones already in it.
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
    return absl::InternalError("pipe2 for SIGHUP failed");
  g_hup_pipe_write = fds[1];
  struct sigaction action = {};
  action.sa_handler = OnHangup;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  sigaction(SIGHUP, &action, nullptr);
  // A fork-server child starts with these blocked (common/process/fork_server.h):
  // now that they are handled, let any that came early through.
  sigset_t handled;
  sigemptyset(&handled);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&handled, sig);
  pthread_sigmask(SIG_UNBLOCK, &handled, nullptr);
  std::thread([config, read_fd = fds[0]] {
    char byte;
    for (;;) {
      pollfd wait = {read_fd, POLLIN, 0};
      if (poll(&wait, 1, -1) < 0 && errno != EINTR) return;
      ssize_t n = read(read_fd, &byte, 1);
      if (n == 0) return;
      if (n < 0) continue;  // EAGAIN/EINTR
      // Reopened in place, under each file's own lock: threads of the
      // entry keep logging throughout.
      absl::Status stdio = ReopenStdio(config.stdout_filename, config.stderr_filename);
      absl::Status logs = ReopenLogFiles();
      if (stdio.ok() && logs.ok()) {
        Log().info("SIGHUP: reopened stdout, stderr and log files");
      } else {
        for (const absl::Status& status : {stdio, logs}) {
          if (!status.ok()) Log().error("SIGHUP: {}", std::string(status.message()));
        }
      }
      std::lock_guard<std::mutex> lock(HookMutex());
      if (Hook()) Hook()();
    }
  }).detach();
  return absl::OkStatus();
}

void SetHangupHook(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(HookMutex());
  Hook() = std::move(hook);
}

void SetAppkitBinaryOverride(const std::string& name, const std::string& path) {
  std::lock_guard<std::mutex> lock(Binaries().mu);
  Binaries().overrides[name] = path;
}

absl::StatusOr<std::string> FindAppkitBinary(const std::string& name) {
  return FindAppkitFile(name, name);
}

absl::StatusOr<std::string> FindAppkitFile(const std::string& name, const std::string& package) {
  {
    std::lock_guard<std::mutex> lock(Binaries().mu);
    auto it = Binaries().overrides.find(name);
    if (it != Binaries().overrides.end()) return it->second;
  }
  std::vector<std::string> candidates;
  if (const char* dir = getenv("APPKIT_BIN_DIR"); dir && *dir) {
    candidates.push_back(absl::StrCat(dir, "/", name));
  }
  const std::string self = SelfPath();
  // The program's runfiles (Bazel's own library: a runfiles directory or
  // manifest, from RUNFILES_DIR / RUNFILES_MANIFEST_FILE or next to the
  // program), where //client:appkit puts appkit's files under the name of
  // appkit's repository, whatever the using workspace called it.
  using bazel::tools::cpp::runfiles::Runfiles;
  std::string runfiles_error;
  std::unique_ptr<Runfiles> runfiles(Runfiles::Create(self, &runfiles_error));
  if (runfiles != nullptr) {
    std::string path =
        runfiles->Rlocation(absl::StrCat(APPKIT_REPOSITORY_NAME, "/", package, "/", name));
    if (!path.empty()) candidates.push_back(path);
  }
  if (!self.empty()) {
    // An installed appkit (bazel run //:install -- PREFIX): the program in
    // PREFIX/bin, the binaries and the plugin in PREFIX/lib/appkit.
    candidates.push_back(absl::StrCat(DirName(self), "/../lib/appkit/", name));
    candidates.push_back(absl::StrCat(DirName(self), "/", name));
  }
  for (const std::string& candidate : candidates) {
    if (IsUsable(candidate)) return candidate;
  }
  return absl::NotFoundError(absl::StrCat(
      "appkit file '", name, "' not found: looked at [", absl::StrJoin(candidates, ", "), "]",
      runfiles == nullptr ? absl::StrCat(" (no runfiles: ", runfiles_error, ")") : "",
      "; build the program with a dependency on //client:appkit (it carries the guardian, "
      "executor, worker and libappkit_control_plane.so in the runfiles), install appkit with "
      "`bazel run //:install -- PREFIX`, or set APPKIT_BIN_DIR to a directory holding them"));
}

void SetControllerSocket(const std::string& path) {
  std::lock_guard<std::mutex> lock(Binaries().mu);
  Binaries().controller_socket = path;
}

std::string ControllerSocket() {
  std::lock_guard<std::mutex> lock(Binaries().mu);
  return Binaries().controller_socket;
}

namespace {
std::string& DaemonNameStorage() {
  static std::string* name = new std::string;
  return *name;
}
}  // namespace

void SetDaemonName(const std::string& name) {
  std::lock_guard<std::mutex> lock(Binaries().mu);
  DaemonNameStorage() = name;
}

std::string DaemonName() {
  std::lock_guard<std::mutex> lock(Binaries().mu);
  return DaemonNameStorage();
}

void SetEntryModuleDir(const std::string& dir) {
  std::lock_guard<std::mutex> lock(Binaries().mu);
  Binaries().entry_module_dir = dir;
}

std::string EntryModuleDir() {
  std::lock_guard<std::mutex> lock(Binaries().mu);
  return Binaries().entry_module_dir;
}

}  // namespace appkit::internal
