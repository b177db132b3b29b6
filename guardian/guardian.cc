#include "guardian/guardian.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/fd_io.h"
#include "common/base/log.h"
#include "common/base/socket_probe.h"
#include "common/base/time_format.h"
#include "common/control/event_diff.h"
#include "common/control/tcp_health_server.h"
#include "common/process/heartbeat.h"
#include "common/process/notify_state.h"
#include "common/process/spawn.h"
#include "common/process/stdio_files.h"
#include "common/runtime/logging.h"
#include "guardian/foreground_report.h"
#include "guardian/guardian_service.h"
#include "guardian/watch_events.h"
#include "proto/status_file.pb.h"
#include "proto/wire.h"
#include "spdlog/spdlog.h"

namespace appkit::guardian {
namespace {

// Health service SERVING while the guardian runs (SPEC §8).
constexpr char kLivenessService[] = "liveness";

std::optional<absl::Duration> OptionalDuration(bool has, const google::protobuf::Duration& d) {
  if (!has) return std::nullopt;
  return FromProtoDuration(d);
}

RestartPolicy PolicyOf(const v1::DaemonLaunch& launch) {
  RestartPolicy policy;
  if (!launch.has_restart_policy()) return policy;
  const v1::RestartPolicyLaunch& in = launch.restart_policy();
  policy.backoff_multiplier = in.backoff_multiplier();
  policy.max_delay = FromProtoDuration(in.max_delay());
  policy.jitter = in.jitter();
  policy.reset_after = FromProtoDuration(in.reset_after());
  policy.max_restarts = in.max_restarts();
  policy.within = FromProtoDuration(in.within());
  policy.no_restart_exit_codes.assign(in.no_restart_exit_codes().begin(),
                                      in.no_restart_exit_codes().end());
  return policy;
}

Machine::Config ConfigOf(const v1::DaemonLaunch& launch) {
  return Machine::Config{
      launch.daemon_entry(),
      OptionalDuration(launch.has_restart_interval(), launch.restart_interval()),
      OptionalDuration(launch.has_stop_timeout(), launch.stop_timeout()),
      PolicyOf(launch),
      OptionalDuration(launch.has_ready_timeout(), launch.ready_timeout()),
      OptionalDuration(launch.has_watchdog_timeout(), launch.watchdog_timeout()),
  };
}

StatusFacts FactsOf(const v1::DaemonLaunch& launch) {
  StatusFacts facts;
  facts.guardian_pid = getpid();
  facts.start_time = absl::Now();
  facts.daemon_entry = launch.daemon_entry();
  facts.name = launch.name();
  facts.pid_filename = launch.pid_filename();
  facts.guardian_socket = launch.guardian_socket();
  facts.restart_interval =
      OptionalDuration(launch.has_restart_interval(), launch.restart_interval());
  facts.control_plane_plugin = launch.control_plane_path();
  return facts;
}

bool IsSocket(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

}  // namespace

Guardian::Guardian(v1::DaemonLaunch launch, std::unique_ptr<ForkServer> executor_server)
    : launch_(std::move(launch)), facts_(FactsOf(launch_)), machine_(ConfigOf(launch_), this) {
  ExecutorLauncher::Callbacks callbacks;
  callbacks.spawned = [this](pid_t pid, const std::optional<ProcessExit>& gone) {
    executor_pid_ = gone ? 0 : pid;  // a reaped pid is never signalled
    {
      absl::MutexLock lock(&mu_);
      notify_status_.clear();  // a new run says its own
    }
    Input spawned{Event::kSpawned};
    spawned.pid = pid;
    Feed(std::move(spawned));
    if (gone) OnExecutorExited(*gone);  // killed before we knew its pid
  };
  callbacks.failed = [this](const std::string& why) {
    Input failed{Event::kSpawnFailed};
    failed.detail = why;
    Feed(std::move(failed));
  };
  callbacks.entry_running = [this] { Feed(Input{Event::kEntryRunning}); };
  // A pool in the executor stops within this: our kill waits for it.
  callbacks.stop_budget = [this](absl::Duration budget) { machine_.SetStopBudget(budget); };
  callbacks.ready = [this] { Feed(Input{Event::kReady}); };
  // Every executor gets NOTIFY_SOCKET (SPEC §10): sd_notify for entries
  // and programs alike. Without one (no socket) they run without it.
  v1::DaemonLaunch with_notify = launch_;
  if (auto notify = NotifySocket::Create(); notify.ok()) {
    notify_ = std::move(*notify);
    with_notify.set_notify_socket(notify_->address());
  } else {
    Log().warn("no NOTIFY_SOCKET for the daemon: {}", std::string(notify.status().message()));
  }
  launcher_ = std::make_unique<ExecutorLauncher>(&loop_, with_notify, std::move(executor_server),
                                                 std::move(callbacks));
  last_status_ = StatusView(machine_.record(), facts_);
  absl::MutexLock lock(&mu_);
  published_ = machine_.record();
}

Guardian::~Guardian() = default;

int Guardian::Run(int ready_fd) {
  if (launch_.foreground()) {
    // Close-on-exec before anything is spawned: only we hold the pipe.
    foreground_ = std::make_unique<ForegroundReport>(UniqueFd(wire::kGuardianForegroundFd));
  }
  v1::GuardianReady ready;
  ready.set_guardian_pid(getpid());
  const absl::Status setup = Setup(ready);
  if (!setup.ok()) ready.set_error(std::string(setup.message()));
  if (setup.ok() && ready.running_pid() == 0 && launch_.wait_ready() && ready_fd >= 0) {
    wait_ready_fd_ = ready_fd;  // reported once the first entry is ready, or failed
  } else if (ready_fd >= 0) {
    (void)WriteAll(ready_fd, ready.SerializeAsString());
    close(ready_fd);
  }
  if (!setup.ok()) return 1;
  if (ready.running_pid() != 0) return 0;

  if (foreground_) StartForegroundWatchdog();
  containment_ = Containment::Create(&loop_, launch_.pid_filename(), launch_.worker_path());
  feeding_ = true;  // what Start's effects answer at once waits for it
  machine_.Start();
  feeding_ = false;
  Drain();
  loop_.Run();
  Teardown();
  if (foreground_) {
    // RunDaemon exits with the entry's status (SPEC §10); so do we.
    const int status = ForegroundExitStatus(machine_.record());
    foreground_->Exit(status);
    return status;
  }
  if (wait_ready_fd_ >= 0) {
    // The first entry failed before it was ready: said only now that the
    // pid file and the sockets are gone; EOF comes with our exit.
    ready.set_error(wait_ready_error_.empty() ? "the daemon ended before its entry was ready"
                                              : wait_ready_error_);
    (void)WriteAll(wait_ready_fd_, ready.SerializeAsString());
    return 1;
  }
  return 0;
}

absl::Status Guardian::Setup(v1::GuardianReady& ready) {
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
    return status;
  }
  // The executor fork server first: from before our pid file exists, a
  // survivor that removes it (and our sockets) if we die by SIGKILL.
  // StartDaemon normally started it already, next to us, so that it loads
  // while we do (ForkServer::Adopt gave none if it died before its exec;
  // one that dies later is replaced on first use). A command daemon's
  // starts after its program instead (ExecutorLauncher).
  if (absl::Status server = launcher_->Prepare(); !server.ok()) return server;
  if (launch_.has_watchdog_timeout()) {
    auto table = HeartbeatTable::Create(1);
    if (!table.ok()) return table.status();
    heartbeats_ = std::move(*table);
    launcher_->SetHeartbeatFd(heartbeats_->fd());
  }

  auto acquired = PidFile::Acquire(launch_.pid_filename(), getpid(), "guardian");
  if (!acquired.ok()) return acquired.status();
  if (acquired->running_pid != 0) {
    ready.set_running_pid(acquired->running_pid);
    return absl::OkStatus();
  }
  pid_file_ = std::move(acquired->file);
  // The status snapshot appkitctl reads without an RPC (the RPC still
  // serves everything if it cannot be kept).
  auto status_file =
      StatusFileWriter::Create(wire::GuardianStatusFileFor(launch_.pid_filename()), "status file");
  if (status_file.ok()) {
    status_file_ = std::move(*status_file);
  } else {
    Log().warn("no status file: {}", std::string(status_file.status().message()));
  }

  service_ = std::make_unique<GuardianService>(this);
  auto server = ControlServer::Listen(launch_.guardian_socket(),
                                      {{v1::Guardian::service_full_name(), service_.get()}});
  if (!server.ok()) {
    status_file_.reset();  // nothing left behind, before the starter hears of it
    pid_file_.reset();
    return server.status();
  }
  server_ = std::move(*server);
  struct stat socket_stat;
  if (stat(launch_.guardian_socket().c_str(), &socket_stat) == 0) {
    socket_dev_ = socket_stat.st_dev;
    socket_ino_ = socket_stat.st_ino;
  }
  // SPEC §8: "" is SERVING only while the entry runs and is ready;
  // "liveness" while we run.
  server_->health()->Set("", false);
  server_->health()->Set(kLivenessService, true);
  if (!launch_.health_listen().empty()) {
    // kubelet's probes: the same answers, on TCP, and nothing else.
    auto tcp = TcpHealthServer::Listen(launch_.health_listen(), server_->shared_health());
    if (!tcp.ok()) {
      // Nothing left behind, before the starter hears of it: the socket,
      // the status file, then the pid file.
      server_->Stop();
      status_file_.reset();
      pid_file_.reset();
      return tcp.status();
    }
    tcp_health_ = std::move(*tcp);
  }
  // The controller socket of an executor that died by SIGKILL may be left
  // (only a stale one: a live one is another daemon's).
  RemoveStaleUnixSocket(launch_.controller_socket());

  if (absl::Status watched = loop_.Watch(signal_fd_.get(), [this] { OnSignals(); });
      !watched.ok()) {
    return watched;
  }
  auto accept = AcceptWatch::Start(&loop_, server_->fd(), launch_.guardian_socket(),
                                   [this] { return server_->AcceptPending(); });
  if (!accept.ok()) return accept.status();
  accept_watch_ = std::move(*accept);
  loop_.SetWakeHandler([this] { OnWake(); });
  if (notify_) {
    if (absl::Status watched = loop_.Watch(notify_->fd(), [this] { OnNotify(); }); !watched.ok()) {
      return watched;
    }
  }

  Log().info("guardian {} of daemon {} launched for entry {} (pid file {}, control socket {})",
             getpid(), launch_.name(), launch_.daemon_entry(), launch_.pid_filename(),
             launch_.guardian_socket());
  return absl::OkStatus();
}

void Guardian::Teardown() {
  launcher_.reset();  // the executor fork server: closed and reaped
  containment_.reset();
  accept_watch_.reset();
  tcp_health_.reset();
  hub_.Close();  // every Watch stream ends after its last events
  if (!hub_.AwaitClosedStreams(EventHub::kStopDrain)) {
    Log().warn("guardian {}: a Watch subscriber did not take its last events within {}", getpid(),
               absl::FormatDuration(EventHub::kStopDrain));
  }
  // Unlinks the socket, then stops gRPC within a bounded time.
  const bool grpc_stopped = server_->Stop();
  status_file_.reset();  // removed before the pid file
  pid_file_.reset();     // unlinks the pid file, releases the lock
  Log().info("guardian {} exited", getpid());
  if (!grpc_stopped) {
    // gRPC's threads may still call service_: leave it all to the exit.
    spdlog::default_logger()->flush();
    _exit(0);
  }
  server_.reset();
}

// --- Events -------------------------------------------------------------

void Guardian::OnSignals() {
  signalfd_siginfo info;
  while (read(signal_fd_.get(), &info, sizeof(info)) == sizeof(info)) {
    switch (info.ssi_signo) {
      case SIGTERM:
      case SIGINT: {
        Input quit{Event::kQuit};
        quit.detail = absl::StrCat(SignalName(info.ssi_signo), " from pid ", info.ssi_pid);
        Feed(std::move(quit));
        break;
      }
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
    const pid_t pid = info.si_pid;
    // The executor's zombie still pins its process group id: kill what
    // the entry left behind in its group before reaping the leader.
    if (pid == executor_pid_) kill(-pid, SIGKILL);
    waitid(P_PID, pid, &info, WEXITED | WNOHANG);  // a zombie: no wait
    const ProcessExit exit = ProcessExit::FromSiginfo(info);
    if (pid == executor_pid_) {
      OnExecutorExited(exit);
    } else if (!launcher_->OnChildExited(pid, exit)) {
      Log().debug("reaped orphan {} ({})", pid, exit.Describe());
    }
  }
}

void Guardian::OnExecutorExited(const ProcessExit& exit) {
  executor_pid_ = 0;
  // The controller of a dead executor cannot remove its socket itself
  // (a live socket there is another daemon's: left alone).
  RemoveStaleUnixSocket(launch_.controller_socket());
  Input exited{Event::kExecutorExited};
  exited.exit = exit;
  exited.entry_ran = launcher_->TakeEntryRan();
  exited.error = launcher_->TakeError();
  Feed(std::move(exited));
}

void Guardian::RequestQuitFromRpc() {
  {
    absl::MutexLock lock(&mu_);
    rpc_quit_requested_ = true;
  }
  loop_.Wake();
}

void Guardian::RequestRestartFromRpc() {
  {
    absl::MutexLock lock(&mu_);
    rpc_restart_requested_ = true;
  }
  loop_.Wake();
}

void Guardian::OnWake() {
  bool quit;
  bool restart;
  {
    absl::MutexLock lock(&mu_);
    quit = std::exchange(rpc_quit_requested_, false);
    restart = std::exchange(rpc_restart_requested_, false);
  }
  if (restart) {
    Input input{Event::kRestart};
    input.detail = "Restart over the control socket";
    Feed(std::move(input));
  }
  if (!quit) return;
  Input input{Event::kQuit};
  input.detail = "RequestQuit over the control socket";
  Feed(std::move(input));
}

void Guardian::ReopenOutputs() {
  // logrotate moved the files away: open them again by name, safely; a
  // file that cannot be reopened stays in use (and we say why).
  absl::Status stdio = ReopenStdio(launch_.stdout_filename(), launch_.stderr_filename());
  absl::Status logs = internal::ReopenLogFiles();
  // A command (SPEC §10) is not told: SIGHUP would end most programs.
  if (executor_pid_ > 0 && launch_.command().argv_size() == 0) kill(executor_pid_, SIGHUP);
  if (stdio.ok() && logs.ok()) {
    Log().info("SIGHUP: reopened stdout, stderr and log files");
    return;
  }
  for (const absl::Status& status : {stdio, logs}) {
    if (!status.ok()) Log().error("SIGHUP: {}", std::string(status.message()));
  }
}

void Guardian::OnNotify() {
  for (const NotifySocket::Message& message : notify_->ReadPending()) {
    // Anyone may send to an abstract socket: only the executor's tree counts.
    if (executor_pid_ <= 0 || !IsSameOrDescendant(message.sender, executor_pid_)) {
      Log().warn("sd_notify from pid {} ignored: not the daemon's process or a descendant",
                 message.sender);
      continue;
    }
    const NotifyState state = ParseNotifyState(message);
    if (state.watchdog && heartbeats_) heartbeats_->Reset(0);  // a beat, as Heartbeat()
    if (state.status) {
      {
        absl::MutexLock lock(&mu_);
        notify_status_ = *state.status;
      }
      WriteStatusFile();  // `appkitctl status` reads it there first
      PublishNotice(v1::EVENT_KIND_STATUS, *state.status);
    }
    if (state.stopping) {
      Log().info("daemon process {} says it is stopping (STOPPING=1)", message.sender);
      PublishNotice(v1::EVENT_KIND_STOPPING, "STOPPING=1");
    }
    if (state.ready) Feed(Input{Event::kReady});
  }
}

void Guardian::PublishNotice(v1::EventKind kind, const std::string& description) {
  hub_.Publish([&] {
    v1::Event event =
        MakeEvent(kind, kExecutorSubject,
                  ShortStateName(v1::GuardianState_Name(last_status_.state()), "GUARDIAN_STATE_"),
                  absl::Now());
    event.set_pid(executor_pid_);
    event.set_description(description);
    return std::vector<v1::Event>{std::move(event)};
  });
}

void Guardian::Feed(Input input) {
  inputs_.push_back(std::move(input));
  if (!feeding_) Drain();
}

void Guardian::Drain() {
  feeding_ = true;
  while (!inputs_.empty()) {
    const Input next = std::move(inputs_.front());
    inputs_.pop_front();
    machine_.Handle(next);
    Publish();
  }
  feeding_ = false;
  // The file shows the last transition before anything reacts to it
  // (AfterInputs may Feed a quit, whose own Drain writes it again).
  WriteStatusFile();
  AfterInputs();
}

void Guardian::WriteStatusFile() {
  if (!status_file_) return;
  v1::GuardianStatusFile file;
  *file.mutable_status() = StatusView(machine_.record(), facts_);
  // The reader shows it only while a socket is there, as Status() does.
  file.mutable_status()->set_controller_socket(launch_.controller_socket());
  {
    absl::MutexLock lock(&mu_);
    file.mutable_status()->set_notify_status(notify_status_);  // as Status() says it
  }
  file.set_control_socket_dev(socket_dev_);
  file.set_control_socket_ino(socket_ino_);
  if (absl::Status written = status_file_->Write(file.SerializeAsString()); !written.ok()) {
    Log().warn("{}; appkitctl uses the control socket instead", std::string(written.message()));
    status_file_.reset();  // a stale snapshot is worse than none
  }
}

void Guardian::Publish() {
  const Record& record = machine_.record();
  v1::GuardianStatus now = StatusView(record, facts_);
  hub_.Publish([&] {
    {
      absl::MutexLock lock(&mu_);
      published_ = record;
    }
    std::vector<v1::Event> events = GuardianEvents(last_status_, now, absl::Now());
    last_status_.Swap(&now);
    return events;
  });
}

v1::GuardianStatus Guardian::Watch(std::shared_ptr<EventQueue> queue) {
  v1::GuardianStatus snapshot;
  hub_.Subscribe(std::move(queue), [&] { snapshot = Status(); });
  return snapshot;
}

void Guardian::AfterInputs() {
  const Record& record = machine_.record();
  const bool serving = record.state == State::kRunning && record.ready;
  if (server_ && serving != serving_) {
    serving_ = serving;
    server_->health()->Set("", serving);
  }
  if (foreground_) foreground_->Update(record);
  if (wait_ready_fd_ < 0) return;
  if (record.ready) {
    v1::GuardianReady ready;
    ready.set_guardian_pid(getpid());
    (void)WriteAll(wait_ready_fd_, ready.SerializeAsString());
    close(wait_ready_fd_);
    wait_ready_fd_ = -1;
    return;
  }
  // The first run ended (or could not start) before it was ready: the
  // daemon ends, without a restart, and StartDaemon says why.
  const bool failed = !record.history.empty() || record.state == State::kWaitingToRestart ||
                      record.state == State::kExited;
  if (!failed || !wait_ready_error_.empty()) return;
  if (!record.history.empty()) {
    const guardian::Run& run = record.history.back();
    wait_ready_error_ = absl::StrCat(
        "entry ", launch_.daemon_entry(),
        " failed before it was ready: ", run.error.empty() ? run.description : run.error);
  } else {
    wait_ready_error_ = record.quit_reason.empty()
                            ? absl::StrCat("entry ", launch_.daemon_entry(), " never started")
                            : record.quit_reason;
  }
  if (record.state != State::kExited) {
    Input quit{Event::kQuit};
    quit.detail = "the first run failed before it was ready (wait_ready)";
    Feed(std::move(quit));
  }
}

v1::GuardianStatus Guardian::Status() const {
  Record record;
  {
    absl::MutexLock lock(&mu_);
    record = published_;
  }
  StatusFacts facts = facts_;
  if (IsSocket(launch_.controller_socket())) facts.controller_socket = launch_.controller_socket();
  v1::GuardianStatus status = StatusView(record, facts);
  absl::MutexLock lock(&mu_);
  status.set_notify_status(notify_status_);
  return status;
}

// --- Effects ------------------------------------------------------------

absl::Time Guardian::Now() { return absl::Now(); }

void Guardian::SpawnExecutor() {
  if (heartbeats_) heartbeats_->Reset(0);  // its start counts as a beat
  launcher_->Launch(containment_->cgroup_fd());
}

absl::Duration Guardian::SinceLastHeartbeat() {
  if (!heartbeats_) return absl::ZeroDuration();
  return absl::Nanoseconds(MonotonicNanos() - heartbeats_->LastBeat(0));
}

void Guardian::SignalExecutor(int signal) {
  // None yet (asked for, not answered): the machine signals it once it
  // comes (STOPPING x Spawned).
  if (executor_pid_ > 0) SignalProcessGroup(executor_pid_, signal);
}

void Guardian::ClearLeftovers() {
  containment_->Clear(launcher_->server_pid(), /*final=*/false,
                      [this] { Feed(Input{Event::kCleared}); });
}

void Guardian::SetTimer(Timer timer, absl::Time at) {
  EventLoop::TimerId& id = timers_[static_cast<int>(timer)];
  loop_.CancelTimer(id);
  static constexpr Event kDue[] = {Event::kRestartDue, Event::kKillDue, Event::kReadyDue,
                                   Event::kWatchdogDue};
  const Event due = kDue[static_cast<int>(timer)];
  id = loop_.AddTimer(at, [this, &id, due] {
    id = 0;
    Feed(Input{due});
  });
}

void Guardian::CancelTimer(Timer timer) {
  EventLoop::TimerId& id = timers_[static_cast<int>(timer)];
  loop_.CancelTimer(id);
  id = 0;
}

void Guardian::StartForegroundWatchdog() {
  if (!launch_.has_manager_watchdog_interval()) return;
  const absl::Duration every = FromProtoDuration(launch_.manager_watchdog_interval());
  // Said from the loop, so a loop that hangs stops saying it.
  foreground_watchdog_ = [this, every] {
    foreground_->Watchdog();
    loop_.AddTimer(absl::Now() + every, foreground_watchdog_);
  };
  foreground_->Watchdog();
  loop_.AddTimer(absl::Now() + every, foreground_watchdog_);
}

void Guardian::Finished() {
  // What the daemon left, one last time, and the cgroup; then the loop
  // ends (Teardown).
  containment_->Clear(launcher_->server_pid(), /*final=*/true, [this] { loop_.Stop(); });
}

}  // namespace appkit::guardian
