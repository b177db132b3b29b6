#include "controller/fork_batch.h"

#include <signal.h>
#include <unistd.h>
#include <algorithm>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/fd_limit.h"
#include "common/base/log.h"
#include "common/process/pidfd.h"

namespace appkit::controller {
namespace {

// What /proc/<pid>/comm shows for a process of `binary` (a zombie's too).
std::string CommOf(const std::string& binary) {
  return std::filesystem::path(binary).filename().string().substr(0, 15);
}

std::string ReadComm(pid_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/comm");
  std::string comm;
  std::getline(file, comm);
  return comm;
}

}  // namespace

ForkBatch::ForkBatch(EventLoop* loop, ChildReaper* reaper, Client* client, std::string binary,
                     WorkerCgroups* cgroups, absl::Duration answer_timeout, size_t window)
    : loop_(loop),
      reaper_(reaper),
      client_(client),
      binary_(std::move(binary)),
      comm_(CommOf(binary_)),
      cgroups_(cgroups),
      answer_timeout_(answer_timeout),
      window_(window > 0 ? window : WindowForFdLimit(FdSoftLimit())) {}

size_t ForkBatch::WindowForFdLimit(uint64_t soft_limit) {
  // A request holds a few fds (channel, stdout, stderr, cgroup) until
  // answered; keep 64 for everything else.
  const uint64_t spare = soft_limit > 64 ? (soft_limit - 64) / 8 : 0;
  return static_cast<size_t>(std::clamp<uint64_t>(spare, 1, kMaxWindow));
}

ForkBatch::~ForkBatch() {
  loop_->CancelTimer(pump_timer_);
  loop_->CancelTimer(deadline_timer_);
  if (socket_watched_) loop_->Unwatch(server_->fd());
  // A server still here (the loop stopped without Shutdown) is killed and
  // reaped by ~ForkServer.
}

absl::Status ForkBatch::Start(std::unique_ptr<ForkServer> prestarted) {
  return StartServer(std::move(prestarted));
}

absl::Status ForkBatch::StartServer(std::unique_ptr<ForkServer> prestarted) {
  // In the pool's cgroup, told its path, when there is one (a prestarted
  // server was born there, and finds the path itself: worker/worker_server.h).
  UniqueFd cgroup = cgroups_ ? cgroups_->OpenPool() : UniqueFd();
  if (prestarted) {
    Log().info("controller {}: worker fork server {} (prestarted by the executor)", getpid(),
               prestarted->pid());
  }
  std::vector<std::string> args;
  if (cgroup) args.push_back(cgroups_->pool());
  absl::StatusOr<std::unique_ptr<ForkServer>> server =
      prestarted ? std::move(prestarted)
                 : ForkServer::Start(binary_, args, cgroup.get(), server_title_);
  if (!server.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot start the worker binary ", binary_, ": ", server.status().message()));
  }
  if (servers_started_++ > 0) {
    Log().warn("controller {}: the worker fork server is gone; starting a new one (pid {})",
               getpid(), (*server)->pid());
  }
  server_ = std::move(*server);
  usable_ = true;
  server_exited_ = false;
  reaper_->Reap(server_->pid(), [this](const ProcessExit& exit) { OnServerExit(exit); });
  return absl::OkStatus();
}

void ForkBatch::Enqueue(int index) {
  waiting_.push_back({index});
  SchedulePump();
}

void ForkBatch::SchedulePump() {
  if (pump_timer_ != 0 || shutting_down_) return;
  pump_timer_ = loop_->AddTimer(absl::InfinitePast(), [this] {
    pump_timer_ = 0;
    Pump();
  });
}

void ForkBatch::Pump() {
  while (!shutting_down_ && (!voided_.empty() || !waiting_.empty())) {
    if (!server_) {
      absl::Status started = StartServer();
      if (!started.ok()) {
        Log().error("controller {}: {}", getpid(), std::string(started.message()));
        std::deque<Waiting> failed = std::move(voided_);
        failed.insert(failed.end(), waiting_.begin(), waiting_.end());
        voided_.clear();
        waiting_.clear();
        for (const Waiting& request : failed) client_->Forked(request.index, started);
        return;
      }
    }
    if (!usable_ || server_->pending() >= window_) break;
    std::deque<Waiting>& queue = voided_.empty() ? waiting_ : voided_;
    const Waiting next = queue.front();
    queue.pop_front();
    absl::StatusOr<ForkRequest> request = client_->Prepare(next.index);
    if (!request.ok()) {
      client_->Forked(next.index, request.status());
      continue;
    }
    server_->Submit(
        request->message, request->fds, request->cgroup_fd,
        [this, index = next.index, attempts = next.attempts](absl::StatusOr<pid_t> pid) {
          OnAnswer(index, attempts, std::move(pid));
        },
        answer_timeout_);
    // `request` goes: the fds were sent (or the send failed).
  }
  AfterAnswers();
}

void ForkBatch::OnAnswer(int index, int attempts, absl::StatusOr<pid_t> pid) {
  if (pid.ok() || !absl::IsUnavailable(pid.status())) {
    client_->Forked(index, std::move(pid));
    return;
  }
  // The server is gone or hung: the request is void (its child, if any,
  // leaves without running), and so is the server.
  if (usable_) {
    Log().warn("controller {}: worker fork server {}: {}", getpid(), server_->pid(),
               std::string(pid.status().message()));
  }
  usable_ = false;
  KillServer();
  if (attempts == 0 && !shutting_down_) {
    voided_.push_back({index, 1});
  } else {
    client_->Forked(index, std::move(pid));
  }
}

// Watches the socket while answers are due (an idle server's socket may
// read as EOF: watching it then would spin), and keeps the deadline timer.
void ForkBatch::AfterAnswers() {
  const bool due = server_ && !server_exited_ && server_->pending() > 0;
  if (due && !socket_watched_) {
    socket_watched_ = loop_
                          ->Watch(server_->fd(),
                                  [this] {
                                    server_->OnReadable();
                                    Pump();  // refills the window, then AfterAnswers
                                  })
                          .ok();
  } else if (!due && socket_watched_) {
    loop_->Unwatch(server_->fd());
    socket_watched_ = false;
  }
  loop_->CancelTimer(deadline_timer_);
  deadline_timer_ = 0;
  std::optional<absl::Time> deadline = server_ ? server_->deadline() : std::nullopt;
  if (deadline) {
    deadline_timer_ = loop_->AddTimer(*deadline, [this] {
      deadline_timer_ = 0;
      server_->Expire();
      AfterAnswers();
    });
  }
}

void ForkBatch::KillServer() {
  // Its pid stays ours (unreaped) until OnServerExit: safe to signal.
  if (server_ && !server_exited_) kill(server_->pid(), SIGKILL);
}

void ForkBatch::OnServerExit(const ProcessExit& exit) {
  server_exited_ = true;
  usable_ = false;
  const pid_t pid = server_->pid();
  server_->OnReadable();  // answers it sent before it died
  server_->Reaped();      // voids the others (OnAnswer)
  if (!shutting_down_) {
    Log().warn("controller {}: worker fork server {} {}", getpid(), pid, exit.Describe());
  }
  AfterAnswers();  // unwatches its socket, drops its deadline
  server_.reset();
  // Every child it forked exists by now: those nobody heard of are voided.
  ReapStrays();
  Pump();  // a new server if requests wait
}

void ForkBatch::ReapStrays() {
  for (pid_t pid : ChildPids()) {
    if (client_->IsWorker(pid) || reaper_->reaping(pid)) continue;
    // Only processes of the worker binary: the caller's own children stay.
    if (ReadComm(pid) != comm_) continue;
    reaper_->Reap(pid);
  }
}

void ForkBatch::Shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  loop_->CancelTimer(pump_timer_);
  pump_timer_ = 0;
  std::deque<Waiting> left = std::move(voided_);
  left.insert(left.end(), waiting_.begin(), waiting_.end());
  voided_.clear();
  waiting_.clear();
  for (const Waiting& request : left) {
    client_->Forked(request.index, absl::CancelledError("the controller is stopping"));
  }
  usable_ = false;
  KillServer();
}

}  // namespace appkit::controller
