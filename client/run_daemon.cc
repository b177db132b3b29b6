// RunDaemon (client/appkit.h): the daemon's guardian as our own child, and
// this process as what a container's PID 1 or a systemd service must be.
//
// The calling thread blocks SIGTERM, SIGINT, SIGHUP and SIGCHLD and reads
// them from a signalfd: the first three go to the guardian (which stops
// the entry, or reopens its files), SIGCHLD reaps every child we have: the
// guardian, and whatever orphan the kernel re-parents to us (we are a
// child subreaper, and PID 1 in a new PID namespace gets every orphan of
// it). The guardian tells us on a pipe when the entry is ready, when it
// stops, that its loop is alive, and last the status to exit with
// (guardian/foreground_report.h); with NOTIFY_SOCKET in our environment
// we pass the first three on to systemd (we are the service's main pid).
// Nothing here polls: one ppoll over the signalfd and the two pipes.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/appkit.h"
#include "client/daemon_launch.h"
#include "common/base/errno_status.h"
#include "common/base/safe_file.h"
#include "common/base/time_format.h"
#include "common/base/unique_fd.h"
#include "common/host/host.h"
#include "common/process/notify_socket.h"
#include "common/process/process_exit.h"
#include "common/process/spawn.h"
#include "common/process/stdio_files.h"
#include "proto/launch.pb.h"
#include "proto/wire.h"

namespace appkit {
namespace {

constexpr int kForwarded[] = {SIGTERM, SIGINT, SIGHUP};
constexpr const char* kManagerEnv[] = {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"};

// systemd's watchdog, for us: WATCHDOG_USEC set (and WATCHDOG_PID ours or
// unset) -> say WATCHDOG=1 twice per period, as sd_watchdog_enabled advises.
std::optional<absl::Duration> ManagerWatchdogInterval() {
  const char* usec = getenv("WATCHDOG_USEC");
  uint64_t value = 0;
  if (usec == nullptr || !absl::SimpleAtoi(usec, &value) || value == 0) return std::nullopt;
  const char* pid = getenv("WATCHDOG_PID");
  int64_t owner = 0;
  if (pid != nullptr && *pid != '\0' && (!absl::SimpleAtoi(pid, &owner) || owner != getpid())) {
    return std::nullopt;
  }
  return absl::Microseconds(value) / 2;
}

// What RunDaemon changes in this process while it runs, and gives back:
// the signal mask, the subreaper flag, systemd's variables (the guardian
// and the entry must not talk to systemd: only its main pid may).
class ProcessState {
 public:
  ProcessState() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : kForwarded) sigaddset(&set, sig);
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, &old_mask_);
    signal_fd_.reset(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    prctl(PR_GET_CHILD_SUBREAPER, &old_subreaper_);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    for (const char* name : kManagerEnv) {
      const char* value = getenv(name);
      saved_env_.push_back(value ? std::optional<std::string>(value) : std::nullopt);
      unsetenv(name);
    }
  }
  ~ProcessState() {
    for (size_t i = 0; i < saved_env_.size(); ++i) {
      if (saved_env_[i]) setenv(kManagerEnv[i], saved_env_[i]->c_str(), 1);
    }
    prctl(PR_SET_CHILD_SUBREAPER, old_subreaper_);
    // Signals that came after the end were for the daemon, not for the
    // caller: read, so that unblocking them does not act on them.
    signalfd_siginfo info;
    while (signal_fd_ && read(signal_fd_.get(), &info, sizeof(info)) == sizeof(info)) {
    }
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  }
  int signal_fd() const { return signal_fd_.get(); }
  // systemd's value, as it was when RunDaemon started.
  const std::optional<std::string>& notify_socket() const { return saved_env_[0]; }

 private:
  sigset_t old_mask_;
  int old_subreaper_ = 0;
  UniqueFd signal_fd_;
  std::vector<std::optional<std::string>> saved_env_;
};

// Without a pid file: a private directory (0700) for the guardian's pid
// file and sockets, gone at the end.
class PrivateDir {
 public:
  ~PrivateDir() {
    if (path_.empty()) return;
    for (const std::string& file : files_) unlink(file.c_str());
    rmdir(path_.c_str());
  }
  absl::Status Create(const std::string& name) {
    const char* base = getenv("XDG_RUNTIME_DIR");
    struct stat st;
    if (base == nullptr || stat(base, &st) != 0 || !S_ISDIR(st.st_mode)) base = "/tmp";
    std::string tmpl = absl::StrCat(base, "/appkit-", name.empty() ? "daemon" : name, "-XXXXXX");
    if (mkdtemp(tmpl.data()) == nullptr) {
      return ErrnoStatus(errno, absl::StrCat("cannot make a directory for the pid file (", tmpl,
                                             "; DaemonOptions.pid_filename was empty)"));
    }
    path_ = tmpl;
    return absl::OkStatus();
  }
  const std::string& path() const { return path_; }
  // Removed at the end if still there (the guardian removes its own).
  void Own(std::string file) { files_.push_back(std::move(file)); }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

// Reads what is there now of a non-blocking pipe; false at EOF.
bool ReadSome(int fd, std::string& into) {
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
      into.append(buf, n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && errno == EAGAIN;
  }
}

void Say(const std::optional<std::string>& manager, const std::string& state) {
  if (!manager) return;
  setenv("NOTIFY_SOCKET", manager->c_str(), 1);
  absl::Status sent = NotifyOwnManager(state);
  unsetenv("NOTIFY_SOCKET");
  if (!sent.ok()) fprintf(stderr, "appkit: %s\n", std::string(sent.message()).c_str());
}

}  // namespace

absl::StatusOr<int> RunDaemon(const DaemonOptions& given) {
  DaemonOptions options = given;
  PrivateDir private_dir;
  if (options.pid_filename.empty()) {
    if (absl::Status s = private_dir.Create(options.name); !s.ok()) return s;
    options.pid_filename = absl::StrCat(private_dir.path(), "/",
                                        options.name.empty() ? "daemon" : options.name, ".pid");
  } else if (absl::Status s = CheckOutputFile(options.pid_filename, "pid file"); !s.ok()) {
    return s;
  }
  auto launch = internal::BuildDaemonLaunch(options);
  if (!launch.ok()) return launch.status();
  if (!private_dir.path().empty()) {
    for (const std::string& file :
         {launch->pid_filename(), launch->guardian_socket(), launch->controller_socket()}) {
      private_dir.Own(file);
    }
  }
  launch->set_foreground(true);
  if (std::optional<absl::Duration> every = ManagerWatchdogInterval()) {
    *launch->mutable_manager_watchdog_interval() = ToProtoDuration(*every);
  }
  auto guardian = internal::FindAppkitBinary("guardian");
  if (!guardian.ok()) return guardian.status();

  UniqueFd null_in(open("/dev/null", O_RDONLY | O_CLOEXEC));
  absl::StatusOr<StdioFiles> stdio =
      OpenStdioFiles(options.stdout_filename, options.stderr_filename);
  if (!stdio.ok()) return stdio.status();
  auto memfd = MemfdWithContent("appkit-daemon-launch", launch->SerializeAsString());
  if (!memfd.ok()) return memfd.status();
  UniqueFd config(*memfd);
  int ready_pipe[2];
  int report_pipe[2];
  if (pipe2(ready_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return ErrnoStatus(errno, "pipe2");
  UniqueFd ready_read(ready_pipe[0]);
  UniqueFd ready_write(ready_pipe[1]);
  if (pipe2(report_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return ErrnoStatus(errno, "pipe2");
  UniqueFd report_read(report_pipe[0]);
  UniqueFd report_write(report_pipe[1]);
  // The guardian's end blocks (it writes a few short lines).
  fcntl(report_write.get(), F_SETFL, 0);
  fcntl(ready_write.get(), F_SETFL, 0);

  ProcessState state;
  if (state.signal_fd() < 0) return ErrnoStatus(errno, "signalfd");
  SpawnOptions spawn;
  spawn.argv = {*guardian};
  spawn.fds = {{null_in.get(), 0},
               {stdio->out.get(), 1},
               {stdio->err_fd(), 2},
               {config.get(), wire::kGuardianLaunchFd},
               {ready_write.get(), wire::kGuardianReadyFd},
               {report_write.get(), wire::kGuardianForegroundFd}};
  // Its own group: a terminal's ^C reaches us only, and we pass it on once.
  spawn.group = SpawnOptions::Group::kNewProcessGroup;
  spawn.parent_death_signal = SIGTERM;  // we die: the daemon stops
  // Until the guardian reads them (its signalfd): none is lost meanwhile.
  spawn.blocked_signals = {SIGTERM, SIGINT, SIGHUP};
  absl::StatusOr<pid_t> spawned = Spawn(spawn);
  if (!spawned.ok()) return spawned.status();
  const pid_t guardian_pid = *spawned;
  ready_write.reset();
  report_write.reset();
  config.reset();

  std::string ready_message;
  std::string report;
  size_t report_done = 0;  // bytes of `report` handled
  bool ready_eof = false;
  std::optional<int> exit_status;
  std::optional<ProcessExit> guardian_exit;
  auto handle_report = [&] {
    for (size_t end; (end = report.find('\n', report_done)) != std::string::npos;
         report_done = end + 1) {
      const std::string line = report.substr(report_done, end - report_done);
      int status = 0;
      if (absl::StartsWith(line, "EXIT=") && absl::SimpleAtoi(line.substr(5), &status)) {
        exit_status = status;
      } else if (line == "READY=1" || line == "STOPPING=1" || line == "WATCHDOG=1") {
        Say(state.notify_socket(), line);
      }
    }
  };
  while (!guardian_exit) {
    pollfd fds[3] = {{state.signal_fd(), POLLIN, 0},
                     {ready_eof ? -1 : ready_read.get(), POLLIN, 0},
                     {report_read ? report_read.get() : -1, POLLIN, 0}};
    if (ppoll(fds, 3, nullptr, nullptr) < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "ppoll");
    }
    if (fds[1].revents != 0) ready_eof = !ReadSome(ready_read.get(), ready_message);
    if (fds[2].revents != 0) {
      if (!ReadSome(report_read.get(), report)) report_read.reset();
      handle_report();
    }
    if (fds[0].revents == 0) continue;
    signalfd_siginfo info;
    bool child = false;
    while (read(state.signal_fd(), &info, sizeof(info)) == sizeof(info)) {
      if (info.ssi_signo == SIGCHLD) {
        child = true;
      } else {
        kill(guardian_pid, static_cast<int>(info.ssi_signo));
      }
    }
    if (!child) continue;
    // Every zombie we have: the guardian, and orphans given to us.
    for (;;) {
      int wait_status = 0;
      const pid_t pid = waitpid(-1, &wait_status, WNOHANG);
      if (pid <= 0) break;
      if (pid == guardian_pid) guardian_exit = ProcessExit::FromWaitStatus(wait_status);
    }
  }
  // What the guardian wrote before its exit is in the pipes.
  if (!ready_eof) ReadSome(ready_read.get(), ready_message);
  if (report_read) ReadSome(report_read.get(), report);
  handle_report();

  v1::GuardianReady ready;
  if (!ready_message.empty() && ready.ParseFromString(ready_message)) {
    if (!ready.error().empty()) return absl::FailedPreconditionError(ready.error());
    if (ready.running_pid() != 0) {
      return absl::AlreadyExistsError(absl::StrCat("the daemon of pid file ", options.pid_filename,
                                                   " is already running (guardian pid ",
                                                   ready.running_pid(), ")"));
    }
  }
  if (exit_status) return *exit_status;
  return absl::InternalError(absl::StrCat("the guardian ", guardian_exit->Describe(),
                                          " before the daemon ended (see ", options.stderr_filename,
                                          ")"));
}

}  // namespace appkit
