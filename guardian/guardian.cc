#include "common/base/log.h"
#include "guardian/guardian.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/base/errno_status.h"
#include "common/base/fd_io.h"
#include "common/process/stdio_files.h"
#include "common/process/pidfd.h"
#include "common/runtime/logging.h"
#include "common/base/socket_probe.h"
#include "common/base/time_format.h"
#include "guardian/containment.h"
#include "guardian/guardian_service.h"
#include "spdlog/spdlog.h"

namespace appkit::guardian {
namespace {

constexpr size_t kHistoryLength = 20;

std::optional<absl::Duration> OptionalDuration(bool has, const google::protobuf::Duration& d) {
  if (!has) return std::nullopt;
  return FromProtoDuration(d);
}

void Report(int ready_fd, const v1::GuardianReady& ready) {
  if (ready_fd < 0) return;
  (void)WriteAll(ready_fd, ready.SerializeAsString());
  close(ready_fd);
}

}  // namespace

Guardian::Guardian(v1::DaemonLaunch launch, std::unique_ptr<ForkServer> executor_server)
    : launch_(std::move(launch)),
      restart_interval_(OptionalDuration(launch_.has_restart_interval(), launch_.restart_interval())),
      stop_timeout_(OptionalDuration(launch_.has_stop_timeout(), launch_.stop_timeout())),
      start_time_(absl::Now()),
      executor_server_(std::move(executor_server)) {
  absl::MutexLock lock(&mu_);
  status_.set_guardian_pid(getpid());
  status_.set_state(v1::GUARDIAN_STATE_STARTING);
  *status_.mutable_guardian_start_time() = ToProtoTime(start_time_);
  status_.set_daemon_entry(launch_.daemon_entry());
  status_.set_pid_filename(launch_.pid_filename());
  status_.set_control_socket(launch_.control_socket());
  if (restart_interval_) *status_.mutable_restart_interval() = ToProtoDuration(*restart_interval_);
}

Guardian::~Guardian() = default;

int Guardian::Run(int ready_fd) {
  v1::GuardianReady ready;
  ready.set_guardian_pid(getpid());

  // Signals become events: block them before any thread exists.
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&signals, sig);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  signal_fd_.reset(signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
  // Orphans of the daemon's tree come to us, not to init: we reap them and
  // kill what is left when the daemon stops.
  prctl(PR_SET_CHILD_SUBREAPER, 1);

  std::optional<LoggingConfig> logging;
  if (launch_.has_logging_config()) logging = launch_.logging_config();
  if (absl::Status status = internal::ConfigureLogging(logging, "guardian"); !status.ok()) {
    ready.set_error(std::string(status.message()));
    Report(ready_fd, ready);
    return 1;
  }

  // The executor fork server first: from before our pid file exists, a
  // survivor that removes it (and our sockets) if we die by SIGKILL.
  // StartDaemon normally started it already, next to us, so that it loads
  // while we do (ForkServer::Adopt gave none if it died before its exec;
  // one that dies later is replaced on first use).
  if (!executor_server_) {
    if (absl::Status server = StartExecutorServer(); !server.ok()) {
      ready.set_error(std::string(server.message()));
      Report(ready_fd, ready);
      return 1;
    }
  }

  auto acquired = PidFile::Acquire(launch_.pid_filename(), getpid(), "guardian");
  if (!acquired.ok()) {
    ready.set_error(std::string(acquired.status().message()));
    Report(ready_fd, ready);
    return 1;
  }
  if (acquired->running_pid != 0) {
    ready.set_running_pid(acquired->running_pid);
    Report(ready_fd, ready);
    return 0;
  }
  pid_file_ = std::move(acquired->file);

  service_ = std::make_unique<GuardianService>(this);
  auto server = ControlServer::Listen(launch_.control_socket(),
                                      {{v1::Guardian::service_full_name(), service_.get()}});
  if (!server.ok()) {
    ready.set_error(std::string(server.status().message()));
    pid_file_.reset();
    Report(ready_fd, ready);
    return 1;
  }
  server_ = std::move(*server);
  // The controller socket of an executor that died by SIGKILL may be left
  // (only a stale one: a live one is another daemon's).
  RemoveStaleUnixSocket(launch_.controller_socket());

  absl::Status watched = loop_.Watch(signal_fd_.get(), [this] { OnSignals(); });
  if (watched.ok()) {
    auto accept = AcceptWatch::Start(&loop_, server_->fd(), launch_.control_socket(),
                                     [this] { return server_->AcceptPending(); });
    watched = accept.status();
    if (accept.ok()) accept_watch_ = std::move(*accept);
  }
  if (!watched.ok()) {
    ready.set_error(std::string(watched.message()));
    Report(ready_fd, ready);
    return 1;
  }
  loop_.SetWakeHandler([this] { OnWake(); });

  Log().info("guardian {} launched for entry {} (pid file {}, control socket {})", getpid(),
               launch_.daemon_entry(), launch_.pid_filename(), launch_.control_socket());
  Report(ready_fd, ready);

  containment_ = Containment::Create(launch_.pid_filename(), launch_.worker_path());
  StartExecutor();
  loop_.Run();

  executor_server_.reset();
  containment_->AtExit();
  accept_watch_.reset();
  // Unlinks the socket, then stops gRPC within a bounded time.
  const bool grpc_stopped = server_->Stop();
  pid_file_.reset();  // unlinks the pid file, releases the lock
  Log().info("guardian {} exited", getpid());
  if (!grpc_stopped) {
    // gRPC's threads may still call service_: leave it all to the exit.
    spdlog::default_logger()->flush();
    _exit(0);
  }
  server_.reset();
  return 0;
}

void Guardian::SetState(v1::GuardianState state) { status_.set_state(state); }

absl::Status Guardian::StartExecutorServer() {
  // It removes our pid file and sockets if we die by SIGKILL.
  auto server = ForkServer::Start(launch_.executor_path(),
                                  {launch_.pid_filename(), launch_.control_socket(),
                                   launch_.controller_socket()});
  if (!server.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot start the executor binary ", launch_.executor_path(), ": ",
        server.status().message()));
  }
  executor_server_ = std::move(*server);
  return absl::OkStatus();
}

absl::StatusOr<pid_t> Guardian::ForkExecutor(const std::string& request, int ready_fd) {
  if (!executor_server_) {
    if (absl::Status started = StartExecutorServer(); !started.ok()) return started;
  }
  // stdout/stderr as they are now (SIGHUP may have reopened them).
  return executor_server_->Fork(request, {{1, 1}, {2, 2}, {ready_fd, 4}},
                                containment_->cgroup_fd());
}

absl::StatusOr<pid_t> Guardian::SpawnExecutor(const v1::ExecutorLaunch& launch) {
  int ready_pipe[2];
  if (pipe2(ready_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return ErrnoStatus(errno, "pipe2");
  UniqueFd ready_read(ready_pipe[0]);
  UniqueFd ready_write(ready_pipe[1]);
  const std::string request = launch.SerializeAsString();
  absl::StatusOr<pid_t> pid = ForkExecutor(request, ready_write.get());
  if (!pid.ok() && absl::IsUnavailable(pid.status())) {
    // The executor fork server died (or hangs): replace it once.
    Log().warn("executor fork server: {}; starting a new one",
                 std::string(pid.status().message()));
    executor_server_.reset();
    pid = ForkExecutor(request, ready_write.get());
  }
  if (!pid.ok()) return pid;
  executor_pid_ = *pid;
  executor_ran_ = false;
  executor_ready_fd_ = std::move(ready_read);
  (void)loop_.Watch(executor_ready_fd_.get(), [this] { OnExecutorReadable(); });
  return pid;
}

void Guardian::StartExecutor() {
  v1::ExecutorLaunch launch;
  launch.set_daemon_entry(launch_.daemon_entry());
  launch.set_resolved_entry(launch_.resolved_entry());
  *launch.mutable_daemon_args() = launch_.daemon_args();
  if (launch_.has_logging_config()) *launch.mutable_logging_config() = launch_.logging_config();
  launch.set_guardian_pid(getpid());
  launch.set_controller_socket(launch_.controller_socket());
  launch.set_worker_path(launch_.worker_path());
  launch.set_control_plane_path(launch_.control_plane_path());
  launch.set_stdout_filename(launch_.stdout_filename());
  launch.set_stderr_filename(launch_.stderr_filename());
  launch.set_user_fd_limit(launch_.user_fd_limit());

  absl::StatusOr<pid_t> pid = SpawnExecutor(launch);
  absl::MutexLock lock(&mu_);
  if (!pid.ok()) {
    // Treated like an executor that failed at once: retried after
    // restart_interval (the system may be out of processes for a moment),
    // else the daemon ends.
    if (restart_interval_) {
      Log().error("cannot start executor: {}; retry in {}", std::string(pid.status().message()),
                    absl::FormatDuration(*restart_interval_));
      ScheduleRestart(absl::Now());
      return;
    }
    Log().error("cannot start executor: {}", std::string(pid.status().message()));
    status_.set_quit_reason(absl::StrCat("cannot start executor: ", pid.status().message()));
    SetState(v1::GUARDIAN_STATE_EXITED);
    loop_.Stop();
    return;
  }
  v1::ProcessRun* run = status_.mutable_executor();
  run->Clear();
  run->set_pid(*pid);
  *run->mutable_start_time() = ToProtoTime(absl::Now());
  run->set_description("running");
  status_.set_executor_running(true);
  status_.clear_restart_at();
  SetState(v1::GUARDIAN_STATE_STARTING);
  Log().info("executor {} started for entry {}", *pid, launch_.daemon_entry());
}

void Guardian::OnExecutorReadable() {
  char byte;
  ssize_t n = read(executor_ready_fd_.get(), &byte, 1);
  if (n < 0 && errno == EINTR) return;
  loop_.Unwatch(executor_ready_fd_.get());
  executor_ready_fd_.reset();
  if (n != 1) return;  // EOF: it died while loading; SIGCHLD tells the rest
  executor_ran_ = true;
  absl::MutexLock lock(&mu_);
  if (status_.state() == v1::GUARDIAN_STATE_STARTING) {
    SetState(v1::GUARDIAN_STATE_RUNNING);
    Log().info("executor {} is running entry {}", executor_pid_, launch_.daemon_entry());
  }
}

void Guardian::OnSignals() {
  signalfd_siginfo info;
  while (read(signal_fd_.get(), &info, sizeof(info)) == sizeof(info)) {
    switch (info.ssi_signo) {
      case SIGTERM:
      case SIGINT:
        Quit(absl::StrCat(SignalName(info.ssi_signo), " from pid ", info.ssi_pid));
        break;
      case SIGHUP:
        ReopenOutputs();
        break;
      case SIGCHLD:
        break;  // handled below, once for any number of coalesced signals
    }
  }
  ReapChildren();
}

void Guardian::ReapChildren() {
  for (;;) {
    siginfo_t info = {};
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) return;
    pid_t pid = info.si_pid;
    if (pid == executor_pid_) {
      // The zombie still pins the process group id: kill what the entry
      // left behind in its group before reaping the leader.
      kill(-pid, SIGKILL);
      waitid(P_PID, pid, &info, WEXITED);
      // And what escaped the group (guardian/containment.h).
      containment_->AfterExecutor(executor_server_ ? executor_server_->pid() : 0);
      OnExecutorExited(ProcessExit::FromSiginfo(info));
    } else if (executor_server_ && pid == executor_server_->pid()) {
      waitid(P_PID, pid, &info, WEXITED);
      Log().warn("executor fork server {} {}; a new one starts with the next executor", pid,
                   ProcessExit::FromSiginfo(info).Describe());
      executor_server_->Reaped();
      executor_server_.reset();
    } else {
      waitid(P_PID, pid, &info, WEXITED);
      Log().debug("reaped orphan {} ({})", pid, ProcessExit::FromSiginfo(info).Describe());
    }
  }
}

void Guardian::OnExecutorExited(const ProcessExit& exit) {
  pid_t pid = executor_pid_;
  executor_pid_ = 0;
  // Did the entry ever run? (Its "ready" byte may still be unread.)
  bool ran = executor_ran_;
  if (executor_ready_fd_) {
    char byte;
    ran = ran || read(executor_ready_fd_.get(), &byte, 1) == 1;
    loop_.Unwatch(executor_ready_fd_.get());
    executor_ready_fd_.reset();
  }
  const std::string how =
      ran ? exit.Describe()
          : absl::StrCat(exit.Describe(), " while loading entry ", launch_.daemon_entry(),
                         " (before it ran)");
  if (kill_timer_ != 0) {
    loop_.CancelTimer(kill_timer_);
    kill_timer_ = 0;
  }
  // The controller of a dead executor cannot remove its socket itself
  // (a live socket there is another daemon's: left alone).
  RemoveStaleUnixSocket(launch_.controller_socket());

  absl::Time now = absl::Now();
  absl::MutexLock lock(&mu_);
  v1::ProcessRun* run = status_.mutable_executor();
  *run->mutable_end_time() = ToProtoTime(now);
  run->set_exitcode(exit.exitcode());
  run->set_description(how);
  status_.set_executor_running(false);
  history_.push_back(*run);
  if (history_.size() > kHistoryLength) history_.pop_front();

  const v1::GuardianState state = status_.state();
  if (state == v1::GUARDIAN_STATE_STOPPING) {
    Log().info("executor {} {}; daemon stopped", pid, how);
    SetState(v1::GUARDIAN_STATE_EXITED);
    loop_.Stop();
    return;
  }
  if (exit.success()) {
    Log().info("executor {} exited with code 0; daemon finished", pid);
    status_.set_quit_reason("executor exited with code 0");
    SetState(v1::GUARDIAN_STATE_EXITED);
    loop_.Stop();
    return;
  }
  if (!restart_interval_) {
    Log().warn("executor {} {}; no restart_interval, daemon stopped", pid, how);
    status_.set_quit_reason(absl::StrCat("executor ", how, ", no restart"));
    SetState(v1::GUARDIAN_STATE_EXITED);
    loop_.Stop();
    return;
  }
  Log().warn("executor {} {}; restart in {}", pid, how,
               absl::FormatDuration(*restart_interval_));
  ScheduleRestart(now);
}

void Guardian::ScheduleRestart(absl::Time from) {
  absl::Time restart_at = from + *restart_interval_;
  *status_.mutable_restart_at() = ToProtoTime(restart_at);
  SetState(v1::GUARDIAN_STATE_WAITING_TO_RESTART);
  restart_timer_ = loop_.AddTimer(restart_at, [this] { OnRestartTimer(); });
}

void Guardian::OnRestartTimer() {
  restart_timer_ = 0;
  {
    absl::MutexLock lock(&mu_);
    status_.set_restart_count(status_.restart_count() + 1);
  }
  StartExecutor();
}

void Guardian::Quit(const std::string& reason) {
  absl::MutexLock lock(&mu_);
  const v1::GuardianState state = status_.state();
  if (state == v1::GUARDIAN_STATE_STOPPING || state == v1::GUARDIAN_STATE_EXITED) return;
  Log().info("quit requested ({})", reason);
  status_.set_quit_reason(reason);
  if (state == v1::GUARDIAN_STATE_WAITING_TO_RESTART) {
    loop_.CancelTimer(restart_timer_);
    restart_timer_ = 0;
    status_.clear_restart_at();
    SetState(v1::GUARDIAN_STATE_EXITED);
    loop_.Stop();
    return;
  }
  SetState(v1::GUARDIAN_STATE_STOPPING);
  if (executor_pid_ > 0) SignalProcessGroup(executor_pid_, SIGTERM);
  if (stop_timeout_) {
    absl::Time kill_at = absl::Now() + *stop_timeout_;
    *status_.mutable_kill_at() = ToProtoTime(kill_at);
    kill_timer_ = loop_.AddTimer(kill_at, [this] { OnKillTimer(); });
  }
}

void Guardian::OnKillTimer() {
  kill_timer_ = 0;
  if (executor_pid_ <= 0) return;
  Log().warn("stop timeout: executor {} still running {} after SIGTERM; killed with SIGKILL",
               executor_pid_, absl::FormatDuration(*stop_timeout_));
  SignalProcessGroup(executor_pid_, SIGKILL);
}

void Guardian::RequestQuitFromRpc() {
  {
    absl::MutexLock lock(&mu_);
    rpc_quit_requested_ = true;
  }
  loop_.Wake();
}

void Guardian::OnWake() {
  bool quit;
  {
    absl::MutexLock lock(&mu_);
    quit = std::exchange(rpc_quit_requested_, false);
  }
  if (quit) Quit("RequestQuit over the control socket");
}

v1::GuardianStatus Guardian::Status() const {
  absl::MutexLock lock(&mu_);
  v1::GuardianStatus status = status_;
  for (const v1::ProcessRun& run : history_) *status.add_history() = run;
  struct stat st;
  if (stat(launch_.controller_socket().c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
    status.set_controller_socket(launch_.controller_socket());
  }
  status.set_control_plane_plugin(launch_.control_plane_path());
  return status;
}

void Guardian::ReopenOutputs() {
  // logrotate moved the files away: open them again by name, safely; a
  // file that cannot be reopened stays in use (and we say why).
  absl::Status stdio = ReopenStdio(launch_.stdout_filename(), launch_.stderr_filename());
  absl::Status logs = internal::ReopenLogFiles();
  if (executor_pid_ > 0) kill(executor_pid_, SIGHUP);
  if (stdio.ok() && logs.ok()) {
    Log().info("SIGHUP: reopened stdout, stderr and log files");
    return;
  }
  for (const absl::Status& status : {stdio, logs}) {
    if (!status.ok()) Log().error("SIGHUP: {}", std::string(status.message()));
  }
}

}  // namespace appkit::guardian
