#include "common/log.h"
#include "controller/worker_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "common/safe_file.h"
#include "common/stdio_files.h"
#include "common/host.h"
#include "common/pidfd.h"
#include "common/pid_file.h"
#include "common/quit.h"
#include "common/status_macros.h"
#include "common/time_format.h"
#include "controller/debug_info.h"
#include "proto/launch.pb.h"
#include "spdlog/spdlog.h"

namespace appkit::controller {
namespace {

constexpr absl::Duration kDebugWriteSpacing = absl::Milliseconds(10);


// A pool of 1000 workers holds two fds per worker.
void RaiseFdLimit() {
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

void SendToWorker(int channel, char request) {
  if (channel >= 0) (void)!send(channel, &request, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
}

}  // namespace

WorkerPool::WorkerPool(PoolConfig config) : config_(std::move(config)) {
  absl::MutexLock lock(&mu_);
  workers_.resize(config_.workers.size());
  for (size_t i = 0; i < config_.workers.size(); ++i) {
    workers_[i].index = static_cast<int>(i);
    workers_[i].config = config_.workers[i];
    index_by_name_[config_.workers[i].name] = static_cast<int>(i);
  }
}

WorkerPool::~WorkerPool() = default;

absl::Status WorkerPool::StartForkServer() {
  // In the pool's cgroup, told its path, when there is one.
  UniqueFd cgroup = cgroups_ ? cgroups_->OpenPool() : UniqueFd();
  std::vector<std::string> args;
  if (cgroup) args.push_back(cgroups_->pool());
  auto fork_server = ForkServer::Start(config_.worker_binary, args, cgroup.get());
  if (!fork_server.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot start the worker binary ",
                                                      config_.worker_binary, ": ",
                                                      fork_server.status().message()));
  }
  fork_server_ = std::move(*fork_server);
  return absl::OkStatus();
}

absl::Status WorkerPool::Run() {
  cgroups_ = WorkerCgroups::Create();
  APPKIT_RETURN_IF_ERROR(StartForkServer());
  RaiseFdLimit();  // after the fork server: workers keep the usual limit

  if (!config_.control_socket.empty()) {
    if (absl::Status plugin = LoadControlPlanePlugin(); !plugin.ok()) {
      Log().error("worker controller {}: {}; the pool runs without its control socket {}",
                    getpid(), std::string(plugin.message()), config_.control_socket);
    } else {
      auto plane = OpenControlPlane(this, config_.control_socket);
      if (!plane.ok()) return plane.status();
      control_plane_ = std::move(*plane);
      auto accept = AcceptWatch::Start(&loop_, control_plane_->fd(), config_.control_socket,
                                       [this] { return control_plane_->AcceptPending(); });
      if (!accept.ok()) return accept.status();
      accept_watch_ = std::move(*accept);
    }
  }
  const int quit_fd = internal::QuitFd();
  APPKIT_RETURN_IF_ERROR(loop_.Watch(quit_fd, [this, quit_fd] {
    loop_.Unwatch(quit_fd);  // a latch: it stays readable
    absl::MutexLock lock(&mu_);
    QuitAll("quit requested");
  }));
  loop_.SetWakeHandler([this] { OnWake(); });
  // SIGHUP (logrotate) reached this process: pass it on to every worker.
  internal::SetHangupHook([this] { ForwardHangup(); });

  Log().info("worker controller {} starting {} workers", getpid(), config_.workers.size());
  {
    absl::MutexLock lock(&mu_);
    StartAll();
  }
  WriteDebugInfo();
  check_timer_ = loop_.AddTimer(absl::Now() + config_.check_interval, [this] { OnCheckTimer(); });
  loop_.Run();

  internal::SetHangupHook(nullptr);
  loop_.CancelTimer(check_timer_);
  loop_.CancelTimer(debug_timer_);
  debug_dirty_ = true;
  WriteDebugInfo();
  accept_watch_.reset();
  control_plane_.reset();  // unlinks the socket, stops gRPC (bounded)
  fork_server_.reset();
  cgroups_.reset();  // what the workers left, and the cgroups
  Log().info("worker controller {}: every worker stopped", getpid());
  return absl::OkStatus();
}

absl::StatusOr<WorkerPool::PreparedFork> WorkerPool::PrepareFork(const Worker& worker) {
  const WorkerConfig& config = worker.config;
  PreparedFork prepared;
  absl::StatusOr<StdioFiles> stdio = OpenStdioFiles(config.stdout_filename, config.stderr_filename);
  if (!stdio.ok()) return stdio.status();
  prepared.stdio = std::move(*stdio);
  int ends[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) {
    return ErrnoStatus(errno, "socketpair for a worker channel");
  }
  prepared.ours.reset(ends[0]);
  prepared.theirs.reset(ends[1]);

  v1::WorkerLaunch launch;
  launch.set_name(config.name);
  launch.set_entry(config.entry);
  launch.set_resolved_entry(config.resolved_entry);
  *launch.mutable_args() = config.args;
  if (config.logging) *launch.mutable_logging_config() = *config.logging;
  launch.set_pid_filename(config.pid_filename);
  launch.set_stdout_filename(config.stdout_filename);
  launch.set_stderr_filename(config.stderr_filename);
  launch.set_user_fd_limit(config_.user_fd_limit);
  prepared.request = launch.SerializeAsString();
  if (cgroups_) prepared.cgroup = cgroups_->OpenWorker(worker.index, config.name);
  prepared.fds = {{prepared.stdio.out.get(), 1},
                   {prepared.stdio.err_fd(), 2},
                   {prepared.theirs.get(), 3}};
  return prepared;
}

absl::StatusOr<pid_t> WorkerPool::ForkWorker(Worker& worker, UniqueFd& channel) {
  absl::StatusOr<PreparedFork> prepared = PrepareFork(worker);
  if (!prepared.ok()) return prepared.status();
  absl::StatusOr<pid_t> pid = absl::UnavailableError("no fork server");
  const int cgroup = prepared->cgroup.get();
  if (fork_server_) pid = fork_server_->Fork(prepared->request, prepared->fds, cgroup);
  if (!pid.ok() && absl::IsUnavailable(pid.status())) {
    // The fork server died (or hangs): replace it and try once more.
    Log().warn("worker fork server: {}; starting a new one", std::string(pid.status().message()));
    fork_server_.reset();
    ReapStrays();
    APPKIT_RETURN_IF_ERROR(StartForkServer());
    pid = fork_server_->Fork(prepared->request, prepared->fds, cgroup);
  }
  if (pid.ok()) channel = std::move(prepared->ours);
  return pid;
}

void WorkerPool::StartAll() {
  // Pipelined: up to kWindow requests in flight, so the fork server forks
  // back to back while this thread prepares the next ones. Any trouble
  // with the server falls back to StartWorker, which replaces it.
  constexpr size_t kWindow = 16;
  std::deque<std::pair<Worker*, UniqueFd>> in_flight;
  bool pipelined = fork_server_ != nullptr;
  auto fall_back = [&] {
    pipelined = false;
    ReapStrays();
    while (!in_flight.empty()) {
      Worker* worker = in_flight.front().first;
      in_flight.pop_front();
      StartWorker(*worker);
    }
  };
  auto complete_oldest = [&] {
    auto [worker, channel] = std::move(in_flight.front());
    in_flight.pop_front();
    absl::StatusOr<pid_t> pid = fork_server_->Receive();
    if (!pid.ok() && absl::IsUnavailable(pid.status())) {
      StartWorker(*worker);
      fall_back();
      return;
    }
    FinishStart(*worker, std::move(pid), std::move(channel));
  };
  for (Worker& worker : workers_) {
    if (!pipelined) {
      StartWorker(worker);
      continue;
    }
    ResetForStart(worker);
    absl::StatusOr<PreparedFork> prepared = PrepareFork(worker);
    if (!prepared.ok()) {
      FinishStart(worker, prepared.status(), UniqueFd());
      continue;
    }
    absl::Status sent =
        fork_server_->Send(prepared->request, prepared->fds, prepared->cgroup.get());
    if (absl::IsUnavailable(sent)) {  // the server is gone: the slow path replaces it
      fall_back();
      StartWorker(worker);
      continue;
    }
    if (!sent.ok()) {  // out of fds or memory here: this worker fails, like a failed fork
      FinishStart(worker, sent, UniqueFd());
      continue;
    }
    in_flight.emplace_back(&worker, std::move(prepared->ours));
    if (in_flight.size() >= kWindow) complete_oldest();
  }
  while (pipelined && !in_flight.empty()) complete_oldest();
}

void WorkerPool::ReapStrays() {
  // Children of fork requests that were voided (the server died or did not
  // answer) exit at once without running; they are ours (CLONE_PARENT) and
  // nobody else will reap them. Only zombies running the worker binary and
  // unknown to the pool: the caller's own children are not touched.
  const std::string worker_comm =
      std::filesystem::path(config_.worker_binary).filename().string().substr(0, 15);
  std::set<pid_t> known;
  for (const Worker& worker : workers_) {
    if (worker.pid > 0) known.insert(worker.pid);
  }
  if (fork_server_) known.insert(fork_server_->pid());
  for (pid_t pid : ChildPids()) {
    if (known.count(pid) != 0) continue;
    // (A zombie has no /proc/<pid>/exe; its comm remains.)
    std::ifstream comm_file("/proc/" + std::to_string(pid) + "/comm");
    std::string comm;
    std::getline(comm_file, comm);
    if (comm != worker_comm) continue;
    // A voided child exits at once: wait for it (100 ms at most), reap it.
    UniqueFd pidfd = OpenPidfd(pid);
    if (pidfd && WaitForExit(pidfd.get(), absl::Now() + absl::Milliseconds(100))) {
      siginfo_t info = {};
      waitid(P_PID, pid, &info, WEXITED | WNOHANG);
    }
  }
}

void WorkerPool::ResetForStart(Worker& worker) {
  worker.restart_timer = 0;
  worker.start_after.reset();
  worker.kill_at.reset();
}

void WorkerPool::StartWorker(Worker& worker) {
  ResetForStart(worker);
  UniqueFd channel;
  absl::StatusOr<pid_t> pid = ForkWorker(worker, channel);
  FinishStart(worker, std::move(pid), std::move(channel));
}

void WorkerPool::FinishStart(Worker& worker, absl::StatusOr<pid_t> pid, UniqueFd channel) {
  UniqueFd pidfd = pid.ok() ? OpenPidfd(*pid) : UniqueFd();
  if (pid.ok() && !pidfd) {
    // Only with the fd table full: never leave a child unwatched.
    const pid_t orphan = *pid;
    pid = ErrnoStatus(errno, "pidfd_open");
    SignalProcessGroup(orphan, SIGKILL);
    while (waitpid(orphan, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  if (!pid.ok()) {
    Log().error("cannot start worker {}: {}", worker.config.name,
                  std::string(pid.status().message()));
    RestartOrEnd(worker);
    MarkChanged();
    return;
  }
  worker.pid = *pid;
  worker.pidfd = std::move(pidfd);
  worker.channel = std::move(channel);
  worker.start_time = absl::Now();
  worker.state = v1::WORKER_STATE_STARTING;
  worker.ping_outstanding = false;
  worker.unresponsive = false;
  ++alive_;
  (void)loop_.Watch(worker.pidfd.get(), [this, &worker] { OnWorkerExited(worker); });
  worker.channel_watched =
      loop_.Watch(worker.channel.get(), [this, &worker] { OnChannelReadable(worker); }).ok();
  Log().info("worker {} launched (pid {}, entry {})", worker.config.name, worker.pid,
               worker.config.entry);
  MarkChanged();
}

void WorkerPool::OnChannelReadable(Worker& worker) {
  char message;
  ssize_t n = recv(worker.channel.get(), &message, 1, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    // EOF (or a broken channel): the exit comes through the pidfd.
    loop_.Unwatch(worker.channel.get());
    worker.channel_watched = false;
    return;
  }
  absl::MutexLock lock(&mu_);
  if (message == 'r' && worker.state == v1::WORKER_STATE_STARTING) {
    worker.state = v1::WORKER_STATE_RUNNING;
  } else if (message == 'H') {  // the answer to a check_interval ping
    worker.ping_outstanding = false;
    if (worker.unresponsive) {
      worker.unresponsive = false;
      Log().info("worker {} (pid {}) answers its control channel again", worker.config.name,
                   worker.pid);
    }
  }
}

void WorkerPool::OnWorkerExited(Worker& worker) {
  // Held from before the reap: a reaped pid is never signalled (SIGHUP
  // forwarding reads pidfds under mu_).
  absl::MutexLock lock(&mu_);
  const pid_t pid = worker.pid;
  siginfo_t info = {};
  ProcessExit exit;
  std::string description;
  if (waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0) {
    if (info.si_pid == 0) return;  // not yet
    // The zombie pins the process group: kill what the worker left in it.
    kill(-pid, SIGKILL);
    waitid(P_PID, pid, &info, WEXITED);
    exit = ProcessExit::FromSiginfo(info);
    description = exit.Describe();
  } else {
    // Reaped by someone else (SIGCHLD set to SIG_IGN in this process).
    exit.code = 255;
    description = "exited (status unknown: reaped elsewhere)";
  }
  // What escaped the group dies too, before any restart.
  if (cgroups_) cgroups_->AfterWorker(worker.index, worker.config.name, pid);
  loop_.Unwatch(worker.pidfd.get());
  if (worker.channel_watched) loop_.Unwatch(worker.channel.get());
  worker.channel_watched = false;
  worker.pidfd.reset();
  worker.channel.reset();
  if (worker.kill_timer != 0) loop_.CancelTimer(worker.kill_timer);
  worker.kill_timer = 0;

  // A worker killed by a signal could not remove its pid file.
  PidFile::RemoveIfStale(worker.config.pid_filename, pid);

  --alive_;
  RecordEnd(worker, exit, description);
  AfterEnd(worker);
}

void WorkerPool::RecordEnd(Worker& worker, const ProcessExit& exit,
                           const std::string& description) {
  v1::ProcessRun run;
  run.set_pid(worker.pid);
  *run.mutable_start_time() = ToProtoTime(worker.start_time);
  *run.mutable_end_time() = ToProtoTime(absl::Now());
  run.set_exitcode(exit.exitcode());
  run.set_description(description);
  worker.history.push_back(std::move(run));
  if (worker.history.size() > kHistoryLength) worker.history.pop_front();
  const bool ends = quitting_ || worker.stopped || !config_.restart_interval;
  const std::string next =
      quitting_ || worker.stopped
          ? "stopped"
          : (config_.restart_interval
                 ? absl::StrCat("restart in ", absl::FormatDuration(*config_.restart_interval))
                 : "not restarted (no restart_interval)");
  if (ends && (quitting_ || worker.stopped)) {
    Log().info("worker {} (pid {}) {}; {}", worker.config.name, worker.pid, description, next);
  } else {
    Log().warn("worker {} (pid {}) {}; {}", worker.config.name, worker.pid, description, next);
  }
}

void WorkerPool::RestartOrEnd(Worker& worker) {
  if (quitting_ || worker.stopped || !config_.restart_interval) {
    worker.state = v1::WORKER_STATE_EXITED;
    return;
  }
  worker.start_after = absl::Now() + *config_.restart_interval;
  worker.state = v1::WORKER_STATE_WAITING_TO_RESTART;
  worker.restart_timer = loop_.AddTimer(*worker.start_after, [this, &worker] {
    absl::MutexLock lock(&mu_);
    ++worker.restart_count;
    StartWorker(worker);
  });
}

void WorkerPool::AfterEnd(Worker& worker) {
  worker.pid = 0;
  worker.kill_at.reset();
  RestartOrEnd(worker);
  MarkChanged();
  MaybeFinish();
}

void WorkerPool::StopWorker(Worker& worker, const std::string& reason) {
  worker.stopped = true;
  switch (worker.state) {
    case v1::WORKER_STATE_WAITING_TO_RESTART:
      loop_.CancelTimer(worker.restart_timer);
      worker.restart_timer = 0;
      worker.start_after.reset();
      worker.state = v1::WORKER_STATE_EXITED;
      MarkChanged();
      return;
    case v1::WORKER_STATE_STARTING:
    case v1::WORKER_STATE_RUNNING:
      break;
    default:
      return;
  }
  Log().info("asking worker {} (pid {}) to quit ({})", worker.config.name, worker.pid, reason);
  SendToWorker(worker.channel.get(), 'q');
  worker.state = v1::WORKER_STATE_STOPPING;
  if (config_.stop_timeout) {
    worker.kill_at = absl::Now() + *config_.stop_timeout;
    worker.kill_timer = loop_.AddTimer(*worker.kill_at, [this, &worker] { OnKillTimer(worker); });
  }
  MarkChanged();
}

void WorkerPool::QuitAll(const std::string& reason) {
  if (quitting_) return;
  quitting_ = true;
  Log().info("worker controller {}: {}; stopping {} workers", getpid(), reason,
               workers_.size());
  for (Worker& worker : workers_) StopWorker(worker, reason);
  MaybeFinish();
}

void WorkerPool::OnKillTimer(Worker& worker) {
  worker.kill_timer = 0;
  absl::MutexLock lock(&mu_);
  if (worker.pid <= 0 || worker.state != v1::WORKER_STATE_STOPPING) return;
  Log().warn("stop timeout: worker {} (pid {}) still running {} after the quit request; "
               "killed with SIGKILL",
               worker.config.name, worker.pid, absl::FormatDuration(*config_.stop_timeout));
  SignalProcessGroup(worker.pid, SIGKILL);
}

void WorkerPool::OnCheckTimer() {
  {
    absl::MutexLock lock(&mu_);
    for (Worker& worker : workers_) {
      if (worker.state != v1::WORKER_STATE_RUNNING) continue;
      // A ping on the control channel: a worker that has not answered the
      // previous one within check_interval is hung (or stopped).
      if (worker.ping_outstanding && !worker.unresponsive) {
        worker.unresponsive = true;
        Log().warn("worker {} (pid {}) has not answered its control channel for {}: hung or "
                     "stopped?",
                     worker.config.name, worker.pid, absl::FormatDuration(config_.check_interval));
      }
      worker.ping_outstanding = true;
      SendToWorker(worker.channel.get(), 'h');
      if (access(worker.config.pid_filename.c_str(), F_OK) != 0 && errno == ENOENT) {
        Log().warn("pid file {} of worker {} (pid {}) is gone; asking the worker to write it "
                     "again",
                     worker.config.pid_filename, worker.config.name, worker.pid);
        SendToWorker(worker.channel.get(), 'p');
      }
    }
  }
  check_timer_ = loop_.AddTimer(absl::Now() + config_.check_interval, [this] { OnCheckTimer(); });
}

void WorkerPool::ForwardHangup() {
  absl::MutexLock lock(&mu_);
  for (const Worker& worker : workers_) {
    if (worker.pidfd) SignalPidfd(worker.pidfd.get(), SIGHUP);
  }
}

void WorkerPool::OnWake() {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> quits = std::move(pending_quits_);
  pending_quits_.clear();
  for (const std::string& name : quits) {
    if (name.empty()) {
      QuitAll("RequestQuit over the control socket");
    } else {
      StopWorker(workers_[index_by_name_.at(name)], "RequestQuit over the control socket");
    }
  }
}

absl::Status WorkerPool::RequestQuit(const std::string& worker_name) {
  if (!worker_name.empty() && index_by_name_.count(worker_name) == 0) {
    return absl::NotFoundError(absl::StrCat("no worker named '", worker_name, "'"));
  }
  {
    absl::MutexLock lock(&mu_);
    pending_quits_.push_back(worker_name);
  }
  loop_.Wake();
  return absl::OkStatus();
}

void WorkerPool::MaybeFinish() {
  if (quitting_ && alive_ == 0) loop_.Stop();
}

void WorkerPool::MarkChanged() {
  debug_dirty_ = true;
  if (debug_timer_ != 0) return;
  absl::Time at = std::max(absl::Now(), last_debug_write_ + kDebugWriteSpacing);
  debug_timer_ = loop_.AddTimer(at, [this] {
    debug_timer_ = 0;
    WriteDebugInfo();
  });
}

void WorkerPool::WriteDebugInfo() {
  if (!debug_dirty_) return;
  debug_dirty_ = false;
  const absl::Time now = absl::Now();
  last_debug_write_ = now;
  std::vector<v1::WorkerStatus> statuses;
  {
    absl::MutexLock lock(&mu_);
    statuses.reserve(workers_.size());
    for (const Worker& worker : workers_) statuses.push_back(StatusOf(worker));
  }
  // Rendered outside the lock: RPCs are not held up by it.
  std::string json = RenderDebugInfo(now, statuses);
  {
    absl::MutexLock lock(&mu_);
    debug_json_ = json;
  }
  if (config_.debug_filename) {
    absl::Status written = WriteFileAtomically(*config_.debug_filename, json, "debug file");
    if (!written.ok()) {
      Log().warn("{}", std::string(written.message()));
    }
  }
  // Rendering a big pool builds a large JSON tree: give its pages back.
  if (json.size() > (256 << 10)) malloc_trim(0);
}

v1::WorkerStatus WorkerPool::StatusOf(const Worker& worker) const {
  v1::WorkerStatus status;
  status.set_index(worker.index);
  status.set_name(worker.config.name);
  status.set_entry(worker.config.entry);
  status.set_state(worker.state);
  status.set_running(worker.pid > 0);
  if (worker.start_time != absl::InfinitePast()) {
    v1::ProcessRun* current = status.mutable_current();
    current->set_pid(worker.pid);
    *current->mutable_start_time() = ToProtoTime(worker.start_time);
  }
  status.set_restart_count(worker.restart_count);
  if (worker.start_after) *status.mutable_start_after() = ToProtoTime(*worker.start_after);
  if (worker.kill_at) *status.mutable_kill_at() = ToProtoTime(*worker.kill_at);
  for (const v1::ProcessRun& run : worker.history) *status.add_history() = run;
  status.set_pid_filename(worker.config.pid_filename);
  status.set_stdout_filename(worker.config.stdout_filename);
  status.set_stderr_filename(worker.config.stderr_filename);
  return status;
}

v1::ListWorkersResponse WorkerPool::ListWorkers() const {
  v1::ListWorkersResponse response;
  response.set_controller_pid(getpid());
  absl::MutexLock lock(&mu_);
  response.set_quit_requested(quitting_);
  for (const Worker& worker : workers_) *response.add_workers() = StatusOf(worker);
  return response;
}

std::string WorkerPool::DebugSnapshotJson() const {
  absl::MutexLock lock(&mu_);
  return debug_json_;
}

}  // namespace appkit::controller
