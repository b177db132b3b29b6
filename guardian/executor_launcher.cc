#include "guardian/executor_launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/base/errno_status.h"
#include "common/base/log.h"
#include "common/host/command_launch.h"
#include "common/host/supervisor_report.h"
#include "proto/wire.h"

namespace appkit::guardian {
namespace {

constexpr absl::Duration kForkTimeout = absl::Seconds(5);

// Whether `pid` runs `binary` (exec'd it). A process whose exec failed
// still has its parent's image, or none once it is exiting.
bool Runs(pid_t pid, const std::string& binary) {
  std::error_code error;
  const auto exe = std::filesystem::read_symlink(absl::StrCat("/proc/", pid, "/exe"), error);
  return !error && std::filesystem::equivalent(exe, binary, error);
}

}  // namespace

v1::ExecutorLaunch ExecutorLaunchFor(const v1::DaemonLaunch& launch, pid_t guardian_pid) {
  v1::ExecutorLaunch executor;
  executor.set_daemon_entry(launch.daemon_entry());
  executor.set_resolved_entry(launch.resolved_entry());
  *executor.mutable_daemon_args() = launch.daemon_args();
  if (launch.has_logging_config()) *executor.mutable_logging_config() = launch.logging_config();
  executor.set_guardian_pid(guardian_pid);
  executor.set_controller_socket(launch.controller_socket());
  executor.set_worker_path(launch.worker_path());
  executor.set_control_plane_path(launch.control_plane_path());
  executor.set_stdout_filename(launch.stdout_filename());
  executor.set_stderr_filename(launch.stderr_filename());
  executor.set_user_fd_limit(launch.user_fd_limit());
  executor.set_daemon_name(launch.name());
  executor.set_notify_ready(launch.has_ready_timeout());
  executor.set_watchdog(launch.has_watchdog_timeout());
  if (launch.has_command()) *executor.mutable_command() = launch.command();
  executor.set_notify_socket(launch.notify_socket());
  return executor;
}

std::vector<std::string> ExecutorServerArgs(const v1::DaemonLaunch& launch) {
  return {launch.pid_filename(), launch.guardian_socket(), launch.controller_socket()};
}

ExecutorLauncher::ExecutorLauncher(EventLoop* loop, const v1::DaemonLaunch& launch,
                                   std::unique_ptr<ForkServer> server, Callbacks callbacks)
    : loop_(loop),
      executor_path_(launch.executor_path()),
      server_args_(ExecutorServerArgs(launch)),
      server_title_("appkit-fork-server " + launch.name() + "/executor"),
      request_(ExecutorLaunchFor(launch, getpid()).SerializeAsString()),
      prestarting_request_([&launch] {
        v1::ExecutorLaunch executor = ExecutorLaunchFor(launch, getpid());
        executor.set_prestart_worker_server(true);
        return executor.SerializeAsString();
      }()),
      entry_starts_workers_(launch.entry_starts_workers()),
      callbacks_(std::move(callbacks)),
      server_(std::move(server)) {
  const v1::CommandLaunch& command = launch.command();
  if (internal::IsCommand(command)) {
    direct_.argv.assign(command.argv().begin(), command.argv().end());
    direct_.argv0 = direct_.argv[0];
    direct_.argv[0] = command.program();
    for (const auto& [name, value] : command.environment()) {
      direct_.extra_env.push_back(absl::StrCat(name, "=", value));
    }
    if (!launch.notify_socket().empty()) {
      direct_.extra_env.push_back(absl::StrCat("NOTIFY_SOCKET=", launch.notify_socket()));
    }
    direct_.working_directory = command.working_directory();
    direct_.fd_soft_limit = launch.user_fd_limit();
    direct_.group = SpawnOptions::Group::kNewProcessGroup;
    direct_.parent_death_signal = SIGKILL;  // as every executor: we die, it dies
  }
}

ExecutorLauncher::~ExecutorLauncher() {
  StopWatchingServer();
  loop_->CancelTimer(retry_timer_);
  loop_->CancelTimer(server_timer_);
  if (ready_) loop_->Unwatch(ready_.get());
}

absl::Status ExecutorLauncher::Prepare() {
  // Adopt gives no server whose exec failed (it is told so). A second
  // guard, whatever the timing: an adopted process that does not run the
  // executor binary (exiting, or not what we expect) is replaced by our
  // own, which says why it cannot start if it cannot.
  if (server_ && !Runs(server_->pid(), executor_path_)) Retire();
  // A command daemon's starts after its program (LaunchDirectly), not on
  // the way to it.
  if (server_ || !direct_.argv.empty()) return absl::OkStatus();
  return StartServer();
}

absl::Status ExecutorLauncher::StartServer() {
  auto server = ForkServer::Start(executor_path_, server_args_, -1, server_title_);
  if (!server.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot start the executor binary ", executor_path_, ": ", server.status().message()));
  }
  server_ = std::move(*server);
  server_broken_ = false;
  return absl::OkStatus();
}

void ExecutorLauncher::Launch(int cgroup_fd) {
  // An executor whose entry's module calls StartWorkers, or whose
  // predecessor started a pool, starts a worker fork server before its
  // module loads.
  prestart_ = entry_starts_workers_ || pool_seen_;
  pool_seen_ = false;
  launching_ = true;
  cgroup_fd_ = cgroup_fd;
  attempts_ = 0;
  reaped_while_launching_.clear();
  if (!direct_.argv.empty() && LaunchDirectly()) return;
  Attempt();
}

bool ExecutorLauncher::LaunchDirectly() {
  direct_.cgroup_fd = cgroup_fd_;
  absl::StatusOr<pid_t> pid = Spawn(direct_);
  if (!pid.ok()) {
    // The executor runs it instead and records why it cannot (exit 127).
    Log().info("{}; through the executor", std::string(pid.status().message()));
    return false;
  }
  if (ready_) loop_->Unwatch(ready_.get());
  ready_.reset();
  ready_buffer_.clear();
  error_.clear();
  launching_ = false;
  entry_ran_ = true;  // its exec succeeded: the program is the entry
  callbacks_.spawned(*pid, std::nullopt);
  callbacks_.entry_running();
  if (!server_ && server_timer_ == 0) {
    // Once the program had time to start (kCommandServerDelay): the
    // survivor that removes the guardian's files if it dies by SIGKILL,
    // and the executor of a program that cannot be spawned directly.
    server_timer_ = loop_->AddTimer(absl::Now() + kCommandServerDelay, [this] {
      server_timer_ = 0;
      if (server_) return;
      if (absl::Status started = StartServer(); !started.ok()) {
        Log().warn("{}", std::string(started.message()));
      }
    });
  }
  return true;
}

void ExecutorLauncher::Attempt() {
  ++attempts_;
  if (server_ && server_broken_) Retire();
  if (!server_) {
    if (absl::Status started = StartServer(); !started.ok()) {
      Fail(std::string(started.message()));
      return;
    }
  }
  int ends[2];
  if (pipe2(ends, O_CLOEXEC | O_NONBLOCK) != 0) {
    Fail(std::string(ErrnoStatus(errno, "pipe2").message()));
    return;
  }
  pending_ready_.reset(ends[0]);
  UniqueFd ready_write(ends[1]);  // sent with the request; ours closes here
  std::vector<std::pair<int, int>> fds = {
      {1, 1}, {2, 2}, {ready_write.get(), wire::kExecutorReadyFd}};
  if (heartbeat_fd_ >= 0) fds.emplace_back(heartbeat_fd_, wire::kExecutorHeartbeatFd);
  server_->Submit(
      prestart_ ? prestarting_request_ : request_, fds, cgroup_fd_,
      [this](absl::StatusOr<pid_t> pid) { Answered(std::move(pid)); }, kForkTimeout);
  Rearm();
}

void ExecutorLauncher::Answered(absl::StatusOr<pid_t> pid) {
  UniqueFd ready = std::move(pending_ready_);
  if (pid.ok()) {
    if (ready_) loop_->Unwatch(ready_.get());
    ready_ = std::move(ready);
    entry_ran_ = false;
    ready_buffer_.clear();
    error_.clear();
    (void)loop_->Watch(ready_.get(), [this] { OnReady(); });
    // Killed (and reaped by the owner) between its clone and this answer?
    std::optional<ProcessExit> gone;
    for (const auto& [reaped, exit] : reaped_while_launching_) {
      if (reaped == *pid) gone = exit;
    }
    reaped_while_launching_.clear();
    launching_ = false;
    callbacks_.spawned(*pid, gone);
    return;
  }
  if (absl::IsUnavailable(pid.status())) {
    server_broken_ = true;
    if (attempts_ == 1) {
      // The fork server died (or hangs): replace it, once. Not from here:
      // this may run inside one of its calls.
      Log().warn("executor fork server: {}; starting a new one",
                 std::string(pid.status().message()));
      retry_timer_ = loop_->AddTimer(absl::InfinitePast(), [this] {
        retry_timer_ = 0;
        Attempt();
      });
      return;
    }
  }
  Fail(std::string(pid.status().message()));
}

void ExecutorLauncher::Fail(const std::string& why) {
  reaped_while_launching_.clear();
  launching_ = false;
  callbacks_.failed(why);
}

bool ExecutorLauncher::ReadReady() {
  char buf[4096];
  for (;;) {
    const ssize_t n = read(ready_.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;
    if (n <= 0) return false;
    ready_buffer_.append(buf, static_cast<size_t>(n));
    if (ready_buffer_.size() > 64 * 1024) return false;  // not what an executor writes
  }
}

void ExecutorLauncher::Decode(bool at_exit) {
  if (!entry_ran_ && !ready_buffer_.empty()) {
    if (ready_buffer_[0] != static_cast<char>(wire::Message::kEntryRunning)) {
      ready_buffer_.clear();
      return;
    }
    ready_buffer_.erase(0, 1);
    entry_ran_ = true;
    if (!at_exit) callbacks_.entry_running();  // at the exit, the exit tells it
  }
  if (!entry_ran_) return;
  internal::SupervisorReport report;
  internal::DecodeReports(ready_buffer_, report);
  if (report.error) error_ = *report.error;
  if (report.stop_budget) pool_seen_ = true;  // StartWorkers ran in this executor
  if (at_exit) return;                        // the run is over: only its error still matters
  if (report.stop_budget && callbacks_.stop_budget) callbacks_.stop_budget(*report.stop_budget);
  if (report.ready && callbacks_.ready) callbacks_.ready();
}

void ExecutorLauncher::OnReady() {
  const bool open = ReadReady();
  Decode(/*at_exit=*/false);
  if (open) return;
  // EOF: the executor is exiting (or died while loading; its exit tells
  // the rest).
  loop_->Unwatch(ready_.get());
  ready_.reset();
}

bool ExecutorLauncher::TakeEntryRan() {
  if (ready_) {
    // The executor is dead: what it wrote is all in the pipe.
    (void)ReadReady();
    Decode(/*at_exit=*/true);
    loop_->Unwatch(ready_.get());
    ready_.reset();
  }
  ready_buffer_.clear();
  return std::exchange(entry_ran_, false);
}

std::string ExecutorLauncher::TakeError() { return std::exchange(error_, ""); }

bool ExecutorLauncher::OnChildExited(pid_t pid, const ProcessExit& exit) {
  if (server_ && pid == server_->pid()) {
    Log().warn("executor fork server {} {}; a new one starts with the next executor", pid,
               exit.Describe());
    StopWatchingServer();
    std::unique_ptr<ForkServer> dead = std::move(server_);
    dead->Reaped();  // a request pending is answered Unavailable: retried
    server_broken_ = false;
    return true;
  }
  for (auto it = retired_.begin(); it != retired_.end(); ++it) {
    if ((*it)->pid() != pid) continue;
    (*it)->Reaped();
    retired_.erase(it);
    return true;
  }
  // The fork server answers after the clone: the child may die (SIGKILL)
  // and be reaped before its pid is read here. Every one is remembered (a
  // cap could drop the executor's exit, which would never come again);
  // a launch lasts at most its timeout.
  if (launching_) {
    reaped_while_launching_.emplace_back(pid, exit);
  }
  return false;
}

void ExecutorLauncher::Retire() {
  StopWatchingServer();
  kill(server_->pid(), SIGKILL);  // our child, not reaped yet: its pid is its own
  retired_.push_back(std::move(server_));
  server_broken_ = false;
}

void ExecutorLauncher::Rearm() {
  const bool pending = server_ && server_->pending() > 0;
  const int fd = pending ? server_->fd() : -1;
  if (watched_server_fd_ != fd) {
    if (watched_server_fd_ >= 0) loop_->Unwatch(watched_server_fd_);
    watched_server_fd_ = -1;
    if (fd >= 0 && loop_
                       ->Watch(fd,
                               [this] {
                                 server_->OnReadable();
                                 Rearm();
                               })
                       .ok()) {
      watched_server_fd_ = fd;
    }
  }
  loop_->CancelTimer(deadline_timer_);
  deadline_timer_ = 0;
  if (!pending) return;
  if (std::optional<absl::Time> at = server_->deadline()) {
    deadline_timer_ = loop_->AddTimer(*at, [this] {
      deadline_timer_ = 0;
      server_->Expire();
      Rearm();
    });
  }
}

void ExecutorLauncher::StopWatchingServer() {
  if (watched_server_fd_ >= 0) loop_->Unwatch(watched_server_fd_);
  watched_server_fd_ = -1;
  loop_->CancelTimer(deadline_timer_);
  deadline_timer_ = 0;
}

}  // namespace appkit::guardian
