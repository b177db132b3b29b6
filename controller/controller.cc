#include "controller/controller.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/base/errno_status.h"
#include "common/base/fd_limit.h"
#include "common/base/log.h"
#include "common/base/socket_probe.h"
#include "common/base/status_macros.h"
#include "common/host/host.h"
#include "common/host/supervisor_report.h"
#include "common/process/heartbeat.h"
#include "common/process/notify_state.h"
#include "common/process/pid_file.h"
#include "common/process/pidfd.h"
#include "common/process/spawn.h"
#include "common/runtime/quit.h"
#include "common/runtime/supervision.h"
#include "controller/control_plane.h"
#include "controller/prestarted_server.h"
#include "controller/worker_channel.h"
#include "controller/worker_launch.h"
#include "proto/wire.h"

namespace appkit::controller {
namespace {

// Messages read from one channel per wake-up: a worker that floods its
// channel does not hold the loop (the level-triggered loop comes back).
constexpr int kMessagesPerWake = 16;

// After the last worker's SIGKILL: reaping, the final debug file, the
// socket's end (bounded), the exit.
constexpr absl::Duration kWindDown = absl::Seconds(3);

std::vector<WorkerInfo> InfosOf(const ControllerConfig& config) {
  std::vector<WorkerInfo> infos;
  for (size_t i = 0; i < config.workers.size(); ++i) {
    infos.push_back(InfoOf(static_cast<int>(i), config.workers[i]));
  }
  return infos;
}

// Inputs that change what the views show (the others only the health
// check's own flags).
bool Shown(WorkerEvent event) {
  return event != WorkerEvent::kCheckDue && event != WorkerEvent::kPong &&
         event != WorkerEvent::kWatchdogDue;
}

// A restarted worker's replacement is up: RollingRestart goes on to the
// next worker: RUNNING and ready (SPEC §8: with a ready_timeout, once it
// called NotifyReady).
bool WorkerUp(const WorkerMachine& machine) {
  return machine.state() == WorkerState::kRunning && machine.record().ready &&
         !machine.start_pending();
}

constexpr char kVerbSource[] = "over the controller socket";

}  // namespace

Controller::Controller(ControllerConfig config)
    : config_(std::move(config)), board_(InfosOf(config_)) {
  for (const WorkerConfig& worker : config_.workers) AddSlot(worker);
}

void Controller::AddSlot(WorkerConfig worker) {
  const int index = static_cast<int>(slots_.size());
  worker.process_title = absl::StrCat("appkit-worker ", config_.daemon_name, "/", worker.name);
  index_by_name_[worker.name] = index;
  WorkerMachine::Config machine{index,
                                worker.name,
                                worker.entry,
                                config_.restart_interval,
                                config_.stop_timeout,
                                config_.check_interval,
                                &config_.restart_policy,
                                worker.ready_timeout,
                                worker.watchdog_timeout,
                                /*pingable=*/!worker.is_command()};
  slots_.push_back(
      std::make_unique<Slot>(index, std::move(worker), machine, static_cast<WorkerEffects*>(this)));
  ++unfinished_;
}

Controller::Slot* Controller::SlotNamed(const std::string& name) {
  auto it = index_by_name_.find(name);
  return it == index_by_name_.end() ? nullptr : slots_[it->second].get();
}

Controller::~Controller() {
  if (plane_loader_.joinable()) plane_loader_.join();  // Run ended early
  if (pending_listener_.fd) UnlinkIfOurs(config_.controller_socket, pending_listener_);
}

absl::Status Controller::Run() {
  for (const WorkerConfig& worker : config_.workers) {
    if (!worker.watchdog_timeout) continue;
    // One slot per worker (by index): its watchdog's heartbeats; room for
    // kAddedWorkerSlots workers added later (AddWorker).
    APPKIT_RETURN_IF_ERROR(CreateHeartbeats(static_cast<int>(config_.workers.size())));
    break;
  }
  // Every worker gets NOTIFY_SOCKET (SPEC §10); without one they run without.
  if (auto notify = NotifySocket::Create(); notify.ok()) {
    notify_ = std::move(*notify);
    APPKIT_RETURN_IF_ERROR(loop_.Watch(notify_->fd(), [this] { OnNotify(); }));
  } else {
    Log().warn("controller {}: no NOTIFY_SOCKET for the workers: {}", getpid(),
               std::string(notify.status().message()));
  }
  // The server the executor forked before the entry's module loaded, in
  // the pool cgroup made for it, when this process is still as it was then
  // and the pool is small (prestarted_server.h).
  PrestartedServer prestarted = TakePrestartedWorkerServer(config_.workers.size());
  cgroups_ = WorkerCgroups::Create(&loop_, WorkerCgroups::kClearWait, prestarted.cgroup);
  batch_ = std::make_unique<ForkBatch>(&loop_, &reaper_, static_cast<ForkBatch::Client*>(this),
                                       config_.worker_binary, cgroups_.get());
  batch_->set_server_title(absl::StrCat("appkit-fork-server ", config_.daemon_name, "/workers"));
  APPKIT_RETURN_IF_ERROR(batch_->Start(std::move(prestarted.server)));
  RaiseFdSoftLimit();  // after the fork server: workers keep the usual limit
  if (!config_.controller_socket.empty()) {
    // Bound now (another's live socket at the path is an error before
    // any worker runs; clients can connect from now on). The control-plane
    // plugin (gRPC) loads on a thread meanwhile: the workers start without
    // waiting for it, and the loop serves the socket once it is loaded
    // (OpenControlSocket); connections wait in the backlog until then.
    absl::StatusOr<UnixListener> listener = ListenUnixSocket(config_.controller_socket);
    if (!listener.ok()) return listener.status();
    pending_listener_ = std::move(*listener);
    plane_loader_ = std::thread([this] {
      (void)LoadControlPlanePlugin();  // its error is Open's too, logged there
      plane_loaded_.store(true);
      loop_.Wake();
    });
    auto status_file = StatusFileWriter::Create(
        wire::WorkersStatusFileFor(config_.controller_socket), "workers status file");
    if (status_file.ok()) {
      status_file_ = std::move(*status_file);
      loop_.SetBeforeWaitHandler([this] { WriteStatusFile(); });
    } else {
      Log().warn("no status file: {}", std::string(status_file.status().message()));
    }
  }
  debug_file_ = std::make_unique<DebugFile>(
      &loop_, config_.debug_filename,
      [this](absl::Time now) { return board_.RenderDebugJson(now); },
      [this](const std::string& json) { board_.PublishDebugJson(json); });
  const int quit_fd = internal::QuitFd();
  APPKIT_RETURN_IF_ERROR(loop_.Watch(quit_fd, [this, quit_fd] {
    loop_.Unwatch(quit_fd);  // a latch: it stays readable
    QuitAll("quit requested");
  }));
  loop_.SetWakeHandler([this] { OnWake(); });
  // The pool's loop runs on the entry's thread: waiting for its events is
  // alive, as Sleep() is (a daemon entry that runs a pool under a
  // watchdog_timeout is not hung while its pool idles).
  loop_.SetWaitHooks(
      [](absl::Duration wait) {
        const absl::Duration capped = std::min(wait, absl::Hours(24 * 365));
        internal::BeatHeartUntil(internal::MonotonicNanos() + absl::ToInt64Nanoseconds(capped));
      },
      [] { internal::BeatHeart(); });
  reaper_.SetOnIdle([this] { MaybeFinish(); });
  // SIGHUP (logrotate) reached this process: the host's thread posts it
  // here, and the loop passes it on to every worker.
  internal::SetHangupHook([this] {
    {
      absl::MutexLock lock(&inbox_mu_);
      hangup_ = true;
    }
    loop_.Wake();
  });

  // In a daemon's executor: the guardian's stop waits for ours (each
  // worker's stop_timeout, then the final debug file and the exit). Zero
  // without a stop_timeout: the report also tells the guardian that a pool
  // runs here (its next executor prestarts a worker fork server).
  internal::ReportStopBudget(config_.stop_timeout ? *config_.stop_timeout + kWindDown
                                                  : absl::ZeroDuration());
  Log().info("controller {} starting {} workers", getpid(), slots_.size());
  for (auto& slot : slots_) {
    slot->machine.Start();
    board_.Publish(slot->index, slot->machine.record());
  }
  debug_file_->MarkChanged();
  check_timer_ = loop_.AddTimer(absl::Now() + config_.check_interval, [this] { OnCheckTimer(); });
  loop_.Run();
  if (plane_loader_.joinable()) plane_loader_.join();  // loaded late: never served
  if (pending_listener_.fd) UnlinkIfOurs(config_.controller_socket, pending_listener_);
  // Commands posted since the loop's last wake-up are answered (the pool
  // is quitting), and those posted from now on at once.
  std::vector<std::function<void()>> late;
  {
    absl::MutexLock lock(&inbox_mu_);
    closed_ = true;
    late.swap(commands_);
  }
  for (auto& command : late) command();

  internal::SetHangupHook(nullptr);
  loop_.CancelTimer(check_timer_);
  debug_file_->MarkChanged();
  debug_file_->Flush();
  status_file_.reset();    // removed before the socket
  board_.CloseWatchers();  // every Watch stream ends after its last events
  if (!board_.AwaitClosedWatchers(EventHub::kStopDrain)) {
    Log().warn("controller {}: a Watch subscriber did not take its last events within {}", getpid(),
               absl::FormatDuration(EventHub::kStopDrain));
  }
  control_socket_.reset();  // unlinks the socket, stops gRPC (bounded)
  batch_.reset();
  cgroups_.reset();  // what the workers left, and the cgroups
  Log().info("controller {}: every worker stopped", getpid());
  return socket_error_;
}

void Controller::OpenControlSocket() {
  plane_loader_.join();
  auto socket =
      ControlSocket::Serve(&loop_, this, config_.controller_socket, std::move(pending_listener_));
  if (!socket.ok()) {
    // gRPC would not serve it: StartWorkers fails with why, once its
    // workers are stopped.
    socket_error_ = socket.status();
    Log().error("controller {}: {}", getpid(), std::string(socket_error_.message()));
    QuitAll(std::string(socket_error_.message()));
    return;
  }
  control_socket_ = std::move(*socket);
}

// May forget `slot` (RemoveWorker): callers do not touch it afterwards.
void Controller::Deliver(Slot& slot, const WorkerInput& input) {
  const bool was_finished = slot.machine.finished();
  slot.machine.Handle(input);
  if (!was_finished && slot.machine.finished()) --unfinished_;
  if (was_finished && !slot.machine.finished()) ++unfinished_;
  if (Shown(input.event)) {
    board_.Publish(slot.index, slot.machine.record());
    if (debug_file_) debug_file_->MarkChanged();
  }
  if (slot.removing && slot.machine.finished()) {
    Forget(slot);
  } else if (rolling_ && rolling_->current == slot.index) {
    RollCheck(slot);
  }
  MaybeFinish();
}

void Controller::WriteStatusFile() {
  if (!status_file_) return;
  std::optional<std::string> content = board_.TakeStatusFileContent();
  if (!content) return;
  if (absl::Status written = status_file_->Write(std::move(*content)); !written.ok()) {
    Log().warn("{}; appkitctl uses the controller socket instead", std::string(written.message()));
    status_file_.reset();  // a stale snapshot is worse than none
  }
}

void Controller::MaybeFinish() {
  if (!quitting_ || unfinished_ > 0) return;
  if (batch_) batch_->Shutdown();  // the server is killed and reaped below
  if ((!batch_ || batch_->idle()) && reaper_.idle()) loop_.Stop();
}

void Controller::QuitAll(const std::string& reason) {
  if (quitting_) return;
  quitting_ = true;
  board_.PublishQuitRequested();
  Log().info("controller {}: {}; stopping {} workers", getpid(), reason, index_by_name_.size());
  if (rolling_) EndRolling(absl::AbortedError("the pool is quitting"));
  WorkerInput stop{WorkerEvent::kStop};
  stop.detail = reason;
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i]) Deliver(*slots_[i], stop);
  }
  MaybeFinish();
}

// ---- WorkerEffects --------------------------------------------------------

absl::Time Controller::Now() { return absl::Now(); }

void Controller::SpawnWorker(int index) {
  slots_[index]->quit_asked = false;  // a new process: a quit asked was the old one's
  batch_->Enqueue(index);
}

void Controller::AskToQuit(int index) {
  Slot& slot = *slots_[index];
  slot.quit_asked = true;
  if (ConfigOf(slot).is_command()) {  // a program: SIGTERM to its group (SPEC §10)
    if (slot.pid > 0) SignalProcessGroup(slot.pid, SIGTERM);
    return;
  }
  SendToWorker(slot.channel.get(), wire::Message::kQuit);
}

void Controller::SignalWorker(int index, int signal) {
  const Slot& slot = *slots_[index];
  // Not reaped yet, so the pid is still this worker's.
  if (slot.pid > 0) SignalProcessGroup(slot.pid, signal);
}

void Controller::SetTimer(int index, Timer timer, absl::Time at) {
  Slot& slot = *slots_[index];
  EventLoop::TimerId& id = slot.timers[static_cast<int>(timer)];
  loop_.CancelTimer(id);
  id = loop_.AddTimer(at, [this, &slot, timer] {
    slot.timers[static_cast<int>(timer)] = 0;
    static constexpr WorkerEvent kDue[] = {WorkerEvent::kRestartDue, WorkerEvent::kKillDue,
                                           WorkerEvent::kReadyDue, WorkerEvent::kWatchdogDue};
    Deliver(slot, WorkerInput{kDue[static_cast<int>(timer)]});
  });
}

void Controller::CancelTimer(int index, Timer timer) {
  EventLoop::TimerId& id = slots_[index]->timers[static_cast<int>(timer)];
  loop_.CancelTimer(id);
  id = 0;
}

absl::Status Controller::CreateHeartbeats(int workers) {
  auto table = HeartbeatTable::Create(workers + kAddedWorkerSlots);
  if (!table.ok()) return table.status();
  heartbeats_ = std::move(*table);
  heartbeat_slots_ = workers + kAddedWorkerSlots;
  return absl::OkStatus();
}

absl::Duration Controller::SinceLastHeartbeat(int index) {
  if (!heartbeats_) return absl::ZeroDuration();
  return absl::Nanoseconds(MonotonicNanos() - heartbeats_->LastBeat(index));
}

void Controller::Ping(int index) {
  SendToWorker(slots_[index]->channel.get(), wire::Message::kPing);
}

void Controller::CheckPidFile(int index) {
  const Slot& slot = *slots_[index];
  const std::string& path = ConfigOf(slot).pid_filename;
  if (access(path.c_str(), F_OK) == 0 || errno != ENOENT) return;
  if (ConfigOf(slot).is_command()) return;  // a program cannot write it again
  Log().warn("pid file {} of worker {} (pid {}) is gone; asking the worker to write it again", path,
             ConfigOf(slot).name, slot.pid);
  SendToWorker(slot.channel.get(), wire::Message::kRewritePidFile);
}

// ---- ForkBatch::Client ----------------------------------------------------

absl::StatusOr<ForkRequest> Controller::Prepare(int index) {
  if (!slots_[index]) return absl::CancelledError("the worker was removed");
  Slot& slot = *slots_[index];
  if (slot.quit_asked) return absl::CancelledError("asked to quit before it started");
  const WorkerConfig& worker = ConfigOf(slot);
  UniqueFd cgroup = cgroups_ ? cgroups_->OpenWorker(index, worker.name) : UniqueFd();
  const bool watched = heartbeats_ && worker.watchdog_timeout;
  if (watched) heartbeats_->Reset(index);  // its start counts as a beat
  absl::StatusOr<PreparedLaunch> launch =
      PrepareLaunch(worker, config_.user_fd_limit, std::move(cgroup),
                    watched ? heartbeats_->fd() : -1, index, notify_ ? notify_->address() : "");
  if (!launch.ok()) return launch.status();
  ForkRequest request;
  request.message = std::move(launch->request);
  request.fds = launch->fds();
  request.cgroup_fd = launch->cgroup ? launch->cgroup.get() : -1;
  slot.channel = std::move(launch->channel.ours);
  request.keep.push_back(std::move(launch->stdio.out));
  request.keep.push_back(std::move(launch->stdio.err));
  request.keep.push_back(std::move(launch->channel.theirs));
  request.keep.push_back(std::move(launch->cgroup));
  return request;
}

void Controller::Forked(int index, absl::StatusOr<pid_t> pid) {
  if (!slots_[index]) {  // not expected: a worker is forgotten only once EXITED
    if (pid.ok()) {
      SignalProcessGroup(*pid, SIGKILL);
      reaper_.Reap(*pid);
    }
    return;
  }
  Slot& slot = *slots_[index];
  UniqueFd pidfd = pid.ok() ? OpenPidfd(*pid) : UniqueFd();
  if (pid.ok() && !pidfd) {
    // Only with the fd table full: never leave a child unwatched.
    const pid_t orphan = *pid;
    pid = ErrnoStatus(errno, "pidfd_open");
    SignalProcessGroup(orphan, SIGKILL);
    reaper_.Reap(orphan);
  }
  if (!pid.ok()) {
    slot.channel.reset();
    WorkerInput failed{WorkerEvent::kSpawnFailed};
    failed.detail = std::string(pid.status().message());
    Deliver(slot, failed);
    return;
  }
  slot.pid = *pid;
  slot.pidfd = std::move(pidfd);
  index_by_pid_[slot.pid] = index;
  (void)loop_.Watch(slot.pidfd.get(), [this, &slot] { OnExit(slot); });
  slot.channel_watched =
      loop_.Watch(slot.channel.get(), [this, &slot] { OnChannelReadable(slot); }).ok();
  // A program asked to quit while it was being forked: its SIGTERM now.
  if (slot.quit_asked && ConfigOf(slot).is_command()) SignalProcessGroup(slot.pid, SIGTERM);
  WorkerInput spawned{WorkerEvent::kSpawned};
  spawned.pid = slot.pid;
  Deliver(slot, spawned);
}

bool Controller::IsWorker(pid_t pid) const { return index_by_pid_.count(pid) != 0; }

// ---- Events ---------------------------------------------------------------

void Controller::OnExit(Slot& slot) {
  const pid_t pid = slot.pid;
  // What the worker said before it died (its error) may not be read yet.
  if (slot.channel_watched) OnChannelReadable(slot);
  siginfo_t info = {};
  WorkerInput exited{WorkerEvent::kExited};
  if (waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0) {
    if (info.si_pid == 0) return;  // not yet
    // The zombie pins the process group: kill what the worker left in it.
    kill(-pid, SIGKILL);
    info = {};
    waitid(P_PID, pid, &info, WEXITED | WNOHANG);  // a zombie: at once
    exited.exit = ProcessExit::FromSiginfo(info);
  } else {
    exited.exit.code = 255;  // reaped elsewhere (SIGCHLD ignored in this process)
  }
  loop_.Unwatch(slot.pidfd.get());
  if (slot.channel_watched) loop_.Unwatch(slot.channel.get());
  slot.channel_watched = false;
  slot.pidfd.reset();
  slot.channel.reset();
  index_by_pid_.erase(pid);
  slot.pid = 0;
  // A worker killed by a signal could not remove its pid file (nor can
  // a program: its lock is ours).
  slot.pid_lock.reset();
  PidFile::RemoveIfStale(ConfigOf(slot).pid_filename, pid);
  exited.error = std::move(slot.error);
  slot.error.clear();
  // What escaped the group dies too, before the machine hears of the exit
  // (and may restart it): at once when nothing is left, else through the
  // loop (controller/worker_cgroups.h).
  if (!cgroups_) {
    Deliver(slot, exited);
    return;
  }
  // By index: the slot may be forgotten meanwhile (RemoveWorker).
  const int index = slot.index;
  cgroups_->AfterWorker(index, ConfigOf(slot).name, pid, [this, index, exited] {
    if (slots_[index]) Deliver(*slots_[index], exited);
  });
}

void Controller::OnChannelReadable(Slot& slot) {
  for (int i = 0; i < kMessagesPerWake; ++i) {
    FromWorker got = ReceiveFromWorker(slot.channel.get());
    if (got.kind == FromWorker::kNothing) return;
    if (got.kind == FromWorker::kClosed) {
      // The worker is gone, or going: its exit comes through its pidfd.
      loop_.Unwatch(slot.channel.get());
      slot.channel_watched = false;
      return;
    }
    if (got.message == wire::Message::kEntryRunning) {
      // A command worker's pid file lock, held for its program (its fds
      // are 0-2 only); released at its exit, before the file is removed.
      if (got.fd && ConfigOf(slot).is_command()) slot.pid_lock = std::move(got.fd);
      Deliver(slot, WorkerInput{WorkerEvent::kEntryRunning});
    } else if (got.message == wire::Message::kPong) {
      Deliver(slot, WorkerInput{WorkerEvent::kPong});
    } else if (got.message == wire::Message::kEntryError) {
      slot.error = internal::CapError(got.text);  // for its exit, which follows
    } else if (got.message == wire::Message::kReady) {
      Deliver(slot, WorkerInput{WorkerEvent::kReady});
    }
  }
}

void Controller::OnNotify() {
  for (const NotifySocket::Message& message : notify_->ReadPending()) {
    // Anyone may send to an abstract socket: only a worker's tree counts.
    Slot* from = nullptr;
    if (auto it = index_by_pid_.find(message.sender); it != index_by_pid_.end()) {
      from = slots_[it->second].get();
    }
    for (size_t i = 0; from == nullptr && i < slots_.size(); ++i) {
      if (slots_[i] && slots_[i]->pid > 0 && IsSameOrDescendant(message.sender, slots_[i]->pid)) {
        from = slots_[i].get();
      }
    }
    if (from == nullptr) {
      Log().warn("controller {}: sd_notify from pid {} ignored: not a worker or a descendant",
                 getpid(), message.sender);
      continue;
    }
    Slot& slot = *from;
    const NotifyState state = ParseNotifyState(message);
    if (state.watchdog && heartbeats_ && ConfigOf(slot).watchdog_timeout) {
      heartbeats_->Reset(slot.index);  // a beat, as Heartbeat()
    }
    if (state.status) board_.PublishNotice(slot.index, v1::EVENT_KIND_STATUS, *state.status);
    if (state.stopping) {
      Log().info("worker {} (pid {}) says it is stopping (STOPPING=1)", ConfigOf(slot).name,
                 slot.pid);
      board_.PublishNotice(slot.index, v1::EVENT_KIND_STOPPING, "STOPPING=1");
    }
    if (state.ready) Deliver(slot, WorkerInput{WorkerEvent::kReady});
  }
}

void Controller::OnCheckTimer() {
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i]) Deliver(*slots_[i], WorkerInput{WorkerEvent::kCheckDue});
  }
  check_timer_ = loop_.AddTimer(absl::Now() + config_.check_interval, [this] { OnCheckTimer(); });
}

void Controller::OnWake() {
  if (plane_loaded_.load() && plane_loader_.joinable()) OpenControlSocket();
  std::vector<std::string> quits;
  std::vector<std::function<void()>> commands;
  bool hangup;
  {
    absl::MutexLock lock(&inbox_mu_);
    quits.swap(quit_requests_);
    commands.swap(commands_);
    hangup = hangup_;
    hangup_ = false;
  }
  if (hangup) {
    for (auto& slot : slots_) {
      // A program is not told (SIGHUP would end most of them).
      if (slot && slot->pidfd && !ConfigOf(*slot).is_command()) {
        SignalPidfd(slot->pidfd.get(), SIGHUP);
      }
    }
  }
  for (auto& command : commands) command();
  const std::string reason = "RequestQuit over the controller socket";
  for (const std::string& name : quits) {
    if (name.empty()) {
      QuitAll(reason);
    } else {
      Slot* slot = SlotNamed(name);
      if (slot == nullptr) continue;  // removed meanwhile
      WorkerInput stop{WorkerEvent::kStop};
      stop.detail = reason;
      Deliver(*slot, stop);
    }
  }
}

// ---- PoolControl (gRPC threads) ------------------------------------------

absl::Status Controller::RequestQuit(const std::string& worker_name) {
  if (!worker_name.empty() && !board_.HasWorker(worker_name)) {
    return absl::NotFoundError(absl::StrCat("no worker named '", worker_name, "'"));
  }
  {
    absl::MutexLock lock(&inbox_mu_);
    quit_requests_.push_back(worker_name);
  }
  loop_.Wake();
  return absl::OkStatus();
}

v1::ListWorkersResponse Controller::ListWorkers() const { return board_.ListWorkers(); }

v1::ListWorkersResponse Controller::Watch(std::shared_ptr<EventQueue> queue) {
  return board_.Watch(std::move(queue));
}

std::string Controller::DebugSnapshotJson() const { return board_.DebugJson(); }

}  // namespace appkit::controller

namespace appkit::controller {

// ---- Worker verbs (commands run on the loop) ------------------------------

void Controller::Post(std::function<void()> command, std::function<void()> closed) {
  {
    absl::MutexLock lock(&inbox_mu_);
    if (!closed_) {
      commands_.push_back(std::move(command));
      command = nullptr;
    }
  }
  if (command) {
    closed();
    return;
  }
  loop_.Wake();
}

absl::StatusOr<Controller::Slot*> Controller::VerbTarget(const std::string& name) {
  Slot* slot = SlotNamed(name);
  if (slot == nullptr) return absl::NotFoundError(absl::StrCat("no worker named '", name, "'"));
  if (quitting_) return absl::FailedPreconditionError("the worker pool is quitting");
  if (slot->removing) {
    return absl::FailedPreconditionError(absl::StrCat("worker '", name, "' is being removed"));
  }
  return slot;
}

v1::WorkerStatus Controller::StatusOf(const Slot& slot) const {
  return WorkerStatusView(InfoOf(slot.index, slot.config), slot.machine.record());
}

void Controller::StartOrRestart(const std::string& name, WorkerEvent event,
                                const WorkerDone& done) {
  absl::StatusOr<Slot*> slot = VerbTarget(name);
  if (!slot.ok()) return done(slot.status());
  WorkerInput input{event};
  input.detail = absl::StrCat(WorkerEventName(event), "Worker ", kVerbSource);
  Deliver(**slot, input);
  if (!(*slot)->machine.refusal().empty()) {
    return done(absl::FailedPreconditionError((*slot)->machine.refusal()));
  }
  done(StatusOf(**slot));
}

namespace {
std::function<void()> Unavailable(PoolControl::WorkerDone done) {
  return [done] { done(absl::UnavailableError("the worker pool has stopped")); };
}
}  // namespace

void Controller::StartWorker(const std::string& name, WorkerDone done) {
  Post([this, name, done] { StartOrRestart(name, WorkerEvent::kStart, done); }, Unavailable(done));
}

void Controller::RestartWorker(const std::string& name, WorkerDone done) {
  Post([this, name, done] { StartOrRestart(name, WorkerEvent::kRestart, done); },
       Unavailable(done));
}

void Controller::AddWorker(const v1::WorkerSpec& spec, WorkerDone done) {
  Post(
      [this, spec, done] {
        if (quitting_) return done(absl::FailedPreconditionError("the worker pool is quitting"));
        if (!config_.check_spec) {
          return done(absl::UnimplementedError("this pool cannot check a worker's spec"));
        }
        if (Slot* other = SlotNamed(spec.name())) {
          return done(absl::AlreadyExistsError(absl::StrCat(
              "a worker named '", spec.name(), "' exists already (index ", other->index, ")")));
        }
        const int index = static_cast<int>(slots_.size());
        absl::StatusOr<WorkerConfig> worker = config_.check_spec(spec, index);
        if (!worker.ok()) return done(worker.status());
        if (worker->watchdog_timeout) {
          if (!heartbeats_) {
            if (absl::Status s = CreateHeartbeats(index); !s.ok()) return done(s);
          } else if (index >= heartbeat_slots_) {
            return done(absl::ResourceExhaustedError(absl::StrCat(
                "worker '", worker->name, "': no heartbeat slot left for its watchdog_timeout (",
                heartbeat_slots_, " slots, every worker ever added takes one)")));
          }
        }
        for (const auto& slot : slots_) {
          if (slot && slot->config.pid_filename == worker->pid_filename) {
            return done(absl::InvalidArgumentError(
                absl::StrCat("worker '", worker->name, "': pid file ", worker->pid_filename,
                             " is also worker '", slot->config.name, "''s")));
          }
        }
        Log().info("controller {}: adding worker {} (index {}, entry {}) {}", getpid(),
                   worker->name, index, worker->entry, kVerbSource);
        AddSlot(*std::move(worker));
        Slot& slot = *slots_[index];
        board_.Add(InfoOf(index, slot.config));
        slot.machine.Start();
        board_.Publish(index, slot.machine.record());
        if (debug_file_) debug_file_->MarkChanged();
        done(StatusOf(slot));
      },
      Unavailable(done));
}

void Controller::RemoveWorker(const std::string& name, std::function<void(absl::Status)> done) {
  Post(
      [this, name, done] {
        Slot* slot = SlotNamed(name);
        if (slot == nullptr) {
          return done(absl::NotFoundError(absl::StrCat("no worker named '", name, "'")));
        }
        slot->removed.push_back(done);
        if (slot->removing) return;  // a second RemoveWorker: answered with the first
        slot->removing = true;
        Log().info("controller {}: removing worker {} {}", getpid(), name, kVerbSource);
        WorkerInput stop{WorkerEvent::kStop};
        stop.detail = absl::StrCat("RemoveWorker ", kVerbSource);
        Deliver(*slot, stop);  // forgets it at once when it was not running
      },
      [done] { done(absl::UnavailableError("the worker pool has stopped")); });
}

void Controller::Forget(Slot& slot) {
  const int index = slot.index;
  for (EventLoop::TimerId& id : slot.timers) loop_.CancelTimer(id);
  index_by_name_.erase(slot.config.name);
  board_.Remove(index);
  if (debug_file_) debug_file_->MarkChanged();
  Log().info("controller {}: worker {} removed", getpid(), slot.config.name);
  std::vector<std::function<void(absl::Status)>> removed = std::move(slot.removed);
  const bool was_rolling = rolling_ && rolling_->current == index;
  slots_[index].reset();  // `slot` is gone
  for (auto& done : removed) done(absl::OkStatus());
  if (was_rolling) {
    rolling_->current = -1;
    RollNext();
  }
}

void Controller::RollingRestart(
    std::function<void(absl::StatusOr<std::vector<std::string>>)> done) {
  Post(
      [this, done] {
        if (quitting_) return done(absl::FailedPreconditionError("the worker pool is quitting"));
        if (rolling_) {
          return done(absl::FailedPreconditionError(
              absl::StrCat("a rolling restart is already under way (", rolling_->restarted.size(),
                           " of ", rolling_->names.size(), " workers restarted)")));
        }
        rolling_ = std::make_unique<Rolling>();
        rolling_->done = done;
        for (const auto& slot : slots_) {
          if (!slot || slot->removing) continue;
          const WorkerState state = slot->machine.state();
          if (state == WorkerState::kStarting || state == WorkerState::kRunning) {
            rolling_->names.push_back(slot->config.name);
          }
        }
        Log().info("controller {}: rolling restart of {} workers {}", getpid(),
                   rolling_->names.size(), kVerbSource);
        RollNext();
      },
      [done] { done(absl::UnavailableError("the worker pool has stopped")); });
}

void Controller::RollNext() {
  while (rolling_ && rolling_->next < rolling_->names.size()) {
    const std::string& name = rolling_->names[rolling_->next++];
    Slot* slot = SlotNamed(name);
    if (slot == nullptr || slot->removing) continue;  // removed meanwhile
    rolling_->current = slot->index;
    rolling_->replaced = slot->machine.record().pid;
    WorkerInput restart{WorkerEvent::kRestart};
    restart.detail = absl::StrCat("RollingRestart ", kVerbSource);
    Deliver(*slot, restart);
    return;  // RollCheck goes on once its replacement is up
  }
  if (rolling_ && rolling_->current < 0) {
    Log().info("controller {}: rolling restart done ({} workers)", getpid(),
               rolling_->restarted.size());
    auto rolling = std::move(rolling_);
    rolling->done(std::move(rolling->restarted));
  }
}

void Controller::RollCheck(Slot& slot) {
  const WorkerMachine& machine = slot.machine;
  if (WorkerUp(machine)) {
    rolling_->restarted.push_back(slot.config.name);
    rolling_->current = -1;
    RollNext();
    return;
  }
  const WorkerState state = machine.state();
  if (machine.start_pending() || state == WorkerState::kStarting ||
      state == WorkerState::kStopping) {
    return;  // on its way
  }
  // Its replacement ran and ended, or never ran (stopped, or no process
  // could be started).
  const auto& history = machine.record().history;
  const bool ran = !history.empty() && history.back().pid != rolling_->replaced;
  EndRolling(absl::AbortedError(
      absl::StrCat("rolling restart stopped: worker '", slot.config.name, "' ",
                   ran ? history.back().description : "could not start",
                   " before its replacement was running (", WorkerStateName(state),
                   "); restarted before it: [", absl::StrJoin(rolling_->restarted, ", "), "]")));
}

void Controller::EndRolling(absl::Status status) {
  Log().warn("controller {}: {}", getpid(), std::string(status.message()));
  auto rolling = std::move(rolling_);
  rolling->done(std::move(status));
}

}  // namespace appkit::controller
