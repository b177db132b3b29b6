#include "controller/controller.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/errno_status.h"
#include "common/base/fd_limit.h"
#include "common/base/log.h"
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
#include "controller/worker_channel.h"
#include "controller/worker_launch.h"

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

}  // namespace

Controller::Controller(ControllerConfig config)
    : config_(std::move(config)), board_(InfosOf(config_)) {
  for (size_t i = 0; i < config_.workers.size(); ++i) {
    const WorkerConfig& worker = config_.workers[i];
    const int index = static_cast<int>(i);
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
    slots_.push_back(std::make_unique<Slot>(index, machine, static_cast<WorkerEffects*>(this)));
  }
  unfinished_ = static_cast<int>(slots_.size());
}

Controller::~Controller() = default;

absl::Status Controller::Run() {
  for (const WorkerConfig& worker : config_.workers) {
    if (!worker.watchdog_timeout) continue;
    // One slot per worker (by index): its watchdog's heartbeats.
    auto table = HeartbeatTable::Create(static_cast<int>(config_.workers.size()));
    if (!table.ok()) return table.status();
    heartbeats_ = std::move(*table);
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
  cgroups_ = WorkerCgroups::Create(&loop_);
  batch_ = std::make_unique<ForkBatch>(&loop_, &reaper_, static_cast<ForkBatch::Client*>(this),
                                       config_.worker_binary, cgroups_.get());
  APPKIT_RETURN_IF_ERROR(batch_->Start());
  RaiseFdSoftLimit();  // after the fork server: workers keep the usual limit
  if (!config_.controller_socket.empty()) {
    auto socket = ControlSocket::Open(&loop_, this, config_.controller_socket);
    if (!socket.ok()) return socket.status();
    control_socket_ = std::move(*socket);
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
  // worker's stop_timeout, then the final debug file and the exit).
  if (config_.stop_timeout) internal::ReportStopBudget(*config_.stop_timeout + kWindDown);
  Log().info("controller {} starting {} workers", getpid(), slots_.size());
  for (auto& slot : slots_) {
    slot->machine.Start();
    board_.Publish(slot->index, slot->machine.record());
  }
  debug_file_->MarkChanged();
  check_timer_ = loop_.AddTimer(absl::Now() + config_.check_interval, [this] { OnCheckTimer(); });
  loop_.Run();

  internal::SetHangupHook(nullptr);
  loop_.CancelTimer(check_timer_);
  debug_file_->MarkChanged();
  debug_file_->Flush();
  board_.CloseWatchers();   // every Watch stream ends after its last events
  control_socket_.reset();  // unlinks the socket, stops gRPC (bounded)
  batch_.reset();
  cgroups_.reset();  // what the workers left, and the cgroups
  Log().info("controller {}: every worker stopped", getpid());
  return absl::OkStatus();
}

void Controller::Deliver(Slot& slot, const WorkerInput& input) {
  const bool was_finished = slot.machine.finished();
  slot.machine.Handle(input);
  if (!was_finished && slot.machine.finished()) --unfinished_;
  if (Shown(input.event)) {
    board_.Publish(slot.index, slot.machine.record());
    if (debug_file_) debug_file_->MarkChanged();
  }
  MaybeFinish();
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
  Log().info("controller {}: {}; stopping {} workers", getpid(), reason, slots_.size());
  WorkerInput stop{WorkerEvent::kStop};
  stop.detail = reason;
  for (auto& slot : slots_) Deliver(*slot, stop);
  MaybeFinish();
}

// ---- WorkerEffects --------------------------------------------------------

absl::Time Controller::Now() { return absl::Now(); }

void Controller::SpawnWorker(int index) { batch_->Enqueue(index); }

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
  // A worker killed by a signal could not remove its pid file.
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
  cgroups_->AfterWorker(slot.index, ConfigOf(slot).name, pid,
                        [this, &slot, exited] { Deliver(slot, exited); });
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
      if (slots_[i]->pid > 0 && IsSameOrDescendant(message.sender, slots_[i]->pid)) {
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
  for (auto& slot : slots_) Deliver(*slot, WorkerInput{WorkerEvent::kCheckDue});
  check_timer_ = loop_.AddTimer(absl::Now() + config_.check_interval, [this] { OnCheckTimer(); });
}

void Controller::OnWake() {
  std::vector<std::string> quits;
  bool hangup;
  {
    absl::MutexLock lock(&inbox_mu_);
    quits.swap(quit_requests_);
    hangup = hangup_;
    hangup_ = false;
  }
  if (hangup) {
    for (auto& slot : slots_) {
      // A program is not told (SIGHUP would end most of them).
      if (slot->pidfd && !ConfigOf(*slot).is_command()) SignalPidfd(slot->pidfd.get(), SIGHUP);
    }
  }
  const std::string reason = "RequestQuit over the controller socket";
  for (const std::string& name : quits) {
    if (name.empty()) {
      QuitAll(reason);
    } else {
      WorkerInput stop{WorkerEvent::kStop};
      stop.detail = reason;
      Deliver(*slots_[index_by_name_.at(name)], stop);
    }
  }
}

// ---- PoolControl (gRPC threads) ------------------------------------------

absl::Status Controller::RequestQuit(const std::string& worker_name) {
  if (!worker_name.empty() && index_by_name_.count(worker_name) == 0) {
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
