#include "client/testing.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "proto/wire.h"

namespace appkit::testing {
namespace {

constexpr auto kRpcTimeout = std::chrono::seconds(5);
constexpr absl::Duration kPollInterval = absl::Milliseconds(10);

int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

// True once the process behind `pidfd` has exited (a zombie counts).
bool Exited(int pidfd, absl::Duration wait = absl::ZeroDuration()) {
  pollfd pfd = {pidfd, POLLIN, 0};
  return poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(wait))) > 0;
}

void Signal(int pidfd, int sig) { syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0); }

std::string StateName(v1::GuardianState state) { return v1::GuardianState_Name(state); }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Processes other than this one with a file below `dir` open: pid -> path.
std::map<pid_t, std::string> HoldersOf(const std::string& dir) {
  std::map<pid_t, std::string> holders;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return holders;
  const std::string prefix = dir + "/";
  while (dirent* entry = readdir(proc)) {
    char* end = nullptr;
    long pid = strtol(entry->d_name, &end, 10);
    if (*end != '\0' || pid <= 0 || pid == getpid()) continue;
    const std::string fds = absl::StrCat("/proc/", pid, "/fd");
    DIR* fd_dir = opendir(fds.c_str());
    if (fd_dir == nullptr) continue;
    while (dirent* fd = readdir(fd_dir)) {
      char target[PATH_MAX];
      ssize_t n = readlink((fds + "/" + fd->d_name).c_str(), target, sizeof(target) - 1);
      if (n <= 0) continue;
      target[n] = '\0';
      if (std::string(target).rfind(prefix, 0) == 0) {
        holders[static_cast<pid_t>(pid)] = target;
        break;
      }
    }
    closedir(fd_dir);
  }
  closedir(proc);
  return holders;
}

std::string Cmdline(pid_t pid) {
  std::string cmdline = ReadAll(absl::StrCat("/proc/", pid, "/cmdline"));
  for (char& c : cmdline) {
    if (c == '\0') c = ' ';
  }
  return cmdline;
}

absl::Status FromGrpc(const grpc::Status& status, const std::string& what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", status.error_message()));
}

}  // namespace

TestDaemon::TestDaemon() {
  char templ[] = "/tmp/appkit-test-XXXXXX";
  if (mkdtemp(templ) == nullptr) {
    throw std::runtime_error(absl::StrCat("mkdtemp /tmp/appkit-test-XXXXXX: ", strerror(errno)));
  }
  dir_ = templ;
}

TestDaemon::~TestDaemon() {
  // A test that failed half-way: stop politely, then kill what is left.
  auto it = seen_.find(guardian_);
  if (it != seen_.end() && !Exited(it->second)) {
    Signal(it->second, SIGTERM);
    Exited(it->second, options_.stop_timeout.value_or(absl::Seconds(5)) + absl::Seconds(2));
  }
  for (const auto& [pid, pidfd] : seen_) {
    if (!Exited(pidfd)) Signal(pidfd, SIGKILL);
  }
  for (const auto& [pid, path] : HoldersOf(dir_)) kill(pid, SIGKILL);
  for (const auto& [pid, pidfd] : seen_) close(pidfd);
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string TestDaemon::Path(const std::string& name) const { return dir_ + "/" + name; }

DaemonOptions TestDaemon::Options(const std::string& entry) const {
  DaemonOptions options;
  options.daemon_entry = entry;
  options.pid_filename = Path("daemon.pid");
  options.stdout_filename = Path("daemon-out.txt");
  options.stderr_filename = Path("daemon-err.txt");
  options.logging_config = *LoggingConfigFromJson(absl::StrCat(
      R"({"level": "INFO", "handlers": [{"file": {"filename": ")", Path("daemon.log"), R"("}}]})"));
  options.stop_timeout = absl::Seconds(5);
  return options;
}

absl::Status TestDaemon::Start(const DaemonOptions& options) {
  if (guardian_ != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("TestDaemon::Start: this fixture already started guardian ", guardian_,
                     " (one daemon per TestDaemon)"));
  }
  options_ = options;
  DaemonStartResult result = StartDaemon(options);
  if (result.status == DaemonRunStatus::kLaunched && result.pid) {
    guardian_ = *result.pid;
    Saw(guardian_);
    return absl::OkStatus();
  }
  if (result.status == DaemonRunStatus::kAlreadyRunning) {
    return absl::FailedPreconditionError(absl::StrCat("StartDaemon: a daemon (guardian ",
                                                      result.pid.value_or(0), ") already holds ",
                                                      options.pid_filename));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("StartDaemon(", options.daemon_entry, ") failed: ", result.error, StderrTail()));
}

absl::Status TestDaemon::WaitUntilRunning(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::StatusOr<v1::GuardianStatus> status;
  do {
    status = Status();
    if (status.ok() && status->state() == v1::GUARDIAN_STATE_RUNNING) return absl::OkStatus();
    absl::SleepFor(kPollInterval);
  } while (absl::Now() < deadline);
  return absl::DeadlineExceededError(absl::StrCat(
      "the daemon did not reach RUNNING within ", absl::FormatDuration(timeout),
      "; last: ", status.ok() ? StateName(status->state()) : std::string(status.status().message()),
      StderrTail()));
}

absl::StatusOr<v1::ListWorkersResponse> TestDaemon::WaitForWorkers(int count,
                                                                   absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::StatusOr<v1::ListWorkersResponse> workers;
  std::string last;
  do {
    workers = Workers();
    if (workers.ok()) {
      int running = 0;
      for (const v1::WorkerStatus& worker : workers->workers()) {
        if (worker.state() == v1::WORKER_STATE_RUNNING) ++running;
      }
      if (workers->workers_size() == count && running == count) return workers;
      last = absl::StrCat(workers->workers_size(), " workers, ", running, " running");
    } else {
      last = std::string(workers.status().message());
    }
    absl::SleepFor(kPollInterval);
  } while (absl::Now() < deadline);
  return absl::DeadlineExceededError(absl::StrCat("the pool did not run ", count,
                                                  " workers within ", absl::FormatDuration(timeout),
                                                  "; last: ", last, StderrTail()));
}

absl::StatusOr<v1::ListWorkersResponse> TestDaemon::WaitForRestarts(int index, int restarts,
                                                                    absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::StatusOr<v1::ListWorkersResponse> workers;
  std::string last;
  do {
    workers = Workers();
    if (workers.ok() && index >= 0 && index < workers->workers_size()) {
      const v1::WorkerStatus& worker = workers->workers(index);
      if (worker.restart_count() >= restarts && worker.state() == v1::WORKER_STATE_RUNNING) {
        return workers;
      }
      last =
          absl::StrCat(worker.restart_count(), " restarts, ", v1::WorkerState_Name(worker.state()));
    } else {
      last = workers.ok() ? absl::StrCat(workers->workers_size(), " workers")
                          : std::string(workers.status().message());
    }
    absl::SleepFor(kPollInterval);
  } while (absl::Now() < deadline);
  return absl::DeadlineExceededError(
      absl::StrCat("worker ", index, " was not restarted ", restarts, " times and RUNNING within ",
                   absl::FormatDuration(timeout), "; last: ", last, StderrTail()));
}

absl::StatusOr<v1::GuardianStatus> TestDaemon::Status() {
  if (guardian_ == 0) return absl::FailedPreconditionError("TestDaemon: not started");
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kRpcTimeout);
  v1::GuardianStatus status;
  grpc::Status rpc = Guardian()->GetStatus(&context, {}, &status);
  if (!rpc.ok()) return FromGrpc(rpc, "GetStatus on " + control_socket());
  if (status.executor().pid() > 0) Saw(static_cast<pid_t>(status.executor().pid()));
  return status;
}

absl::StatusOr<v1::ListWorkersResponse> TestDaemon::Workers() {
  absl::StatusOr<v1::GuardianStatus> status = Status();
  if (!status.ok()) return status.status();
  if (status->controller_socket().empty()) {
    if (status->control_plane_plugin().empty()) {
      return absl::FailedPreconditionError(
          "the daemon serves no worker control socket: the control-plane plugin "
          "libappkit_control_plane.so was not found when it started (does the test depend on "
          "//client:appkit or //client:testing?)");
    }
    return absl::FailedPreconditionError(
        "the daemon serves no worker control socket (yet): its entry has not called "
        "StartWorkers, or the pool could not serve it (see daemon.log)");
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kRpcTimeout);
  v1::ListWorkersResponse workers;
  grpc::Status rpc = Controller()->ListWorkers(&context, {}, &workers);
  if (!rpc.ok()) return FromGrpc(rpc, "ListWorkers on " + controller_socket());
  for (const v1::WorkerStatus& worker : workers.workers()) {
    if (worker.running()) Saw(static_cast<pid_t>(worker.current().pid()));
  }
  return workers;
}

std::unique_ptr<v1::Guardian::Stub> TestDaemon::Guardian() const {
  return v1::Guardian::NewStub(
      grpc::CreateChannel("unix:" + control_socket(), grpc::InsecureChannelCredentials()));
}

std::unique_ptr<v1::Controller::Stub> TestDaemon::Controller() const {
  return v1::Controller::NewStub(
      grpc::CreateChannel("unix:" + controller_socket(), grpc::InsecureChannelCredentials()));
}

absl::Status TestDaemon::Stop(absl::Duration timeout) {
  auto it = seen_.find(guardian_);
  if (it == seen_.end()) return absl::FailedPreconditionError("TestDaemon: not started");
  if (Exited(it->second)) return absl::OkStatus();
  // What runs now, so that CheckNothingLeft can tell whether it all ended.
  (void)Workers();
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kRpcTimeout);
    v1::GuardianRequestQuitResponse response;
    grpc::Status rpc = Guardian()->RequestQuit(&context, {}, &response);
    if (!rpc.ok()) return FromGrpc(rpc, "RequestQuit on " + control_socket());
  }
  if (!Exited(it->second, timeout)) {
    return absl::DeadlineExceededError(absl::StrCat("guardian ", guardian_, " still runs ",
                                                    absl::FormatDuration(timeout),
                                                    " after RequestQuit", StderrTail()));
  }
  return absl::OkStatus();
}

absl::Status TestDaemon::CheckNothingLeft(absl::Duration grace) {
  const absl::Time deadline = absl::Now() + grace;
  std::vector<std::string> left;
  for (;;) {
    left.clear();
    for (const auto& [pid, pidfd] : seen_) {
      if (!Exited(pidfd)) left.push_back(absl::StrCat("process ", pid, " (", Cmdline(pid), ")"));
    }
    for (const auto& [pid, path] : HoldersOf(dir_)) {
      if (seen_.count(pid) == 0) {
        left.push_back(absl::StrCat("process ", pid, " (", Cmdline(pid), ") holding ", path));
      }
    }
    std::error_code error;
    for (auto it = std::filesystem::recursive_directory_iterator(dir_, error);
         !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
      const std::filesystem::path& path = it->path();
      if (it->is_socket(error)) left.push_back("socket " + path.string());
      if (path.extension() == ".pid") left.push_back("pid file " + path.string());
    }
    if (left.empty()) return absl::OkStatus();
    if (absl::Now() >= deadline) break;
    absl::SleepFor(kPollInterval);  // processes on their way out
  }
  return absl::FailedPreconditionError(
      absl::StrCat("left behind: ", absl::StrJoin(left, "; "), StderrTail()));
}

void TestDaemon::Saw(pid_t pid) {
  if (pid <= 0 || seen_.count(pid) != 0) return;
  int pidfd = PidfdOpen(pid);
  if (pidfd >= 0) seen_[pid] = pidfd;
}

std::string TestDaemon::StderrTail() const {
  std::string err = ReadAll(options_.stderr_filename);
  if (err.empty()) return "";
  if (err.size() > 2000) err = "..." + err.substr(err.size() - 2000);
  return absl::StrCat("\n--- end of ", options_.stderr_filename, " ---\n", err);
}

std::string TestDaemon::control_socket() const {
  return options_.control_socket.empty() ? wire::DefaultGuardianSocket(options_.pid_filename)
                                         : options_.control_socket;
}

std::string TestDaemon::controller_socket() const {
  return wire::ControllerSocketFor(control_socket());
}

}  // namespace appkit::testing
