#include "guardian/containment.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/log.h"
#include "common/process/cgroup.h"
#include "common/process/pidfd.h"

namespace appkit::guardian {
namespace {

constexpr int kMaxRounds = 16;

// A worker fork server: it runs the worker binary (or is the fork of an
// executor prestarted for its pool, controller/prestarted_server.h, named
// like every fork server), leads its own process group and stays in the
// daemon's session. (A fork of a worker runs that binary too, but does not
// lead a group of its own unless it made one.) The caller excludes our
// executor fork server.
bool IsWorkerForkServer(pid_t pid, const std::string& worker_binary) {
  if (getpgid(pid) != pid || getsid(pid) != getsid(0)) return false;
  std::string comm;
  std::getline(std::ifstream(absl::StrCat("/proc/", pid, "/comm")), comm);
  if (comm == "appkit-forksrv") return true;
  if (worker_binary.empty()) return false;
  std::error_code error;
  auto exe = std::filesystem::read_symlink(absl::StrCat("/proc/", pid, "/exe"), error);
  return !error && std::filesystem::equivalent(exe, worker_binary, error);
}

// A child that exited and awaits its reaping (by the owner): gone.
bool IsZombie(pid_t pid) {
  siginfo_t info = {};
  return waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

bool IsPoolCgroup(const std::string& path) {
  return std::filesystem::path(path).filename().string().rfind(kPoolCgroupPrefix, 0) == 0;
}

const char* Plural(int count) { return count == 1 ? "" : "es"; }

}  // namespace

std::unique_ptr<Containment> Containment::Create(EventLoop* loop, const std::string& pid_filename,
                                                 const std::string& worker_path,
                                                 absl::Duration stage_wait) {
  std::unique_ptr<Containment> containment(new Containment(loop, worker_path, stage_wait));
  absl::StatusOr<std::string> own = OwnCgroupDir();
  const std::string name = DaemonCgroupName(pid_filename, getpid());
  absl::StatusOr<std::string> cgroup = own.ok() ? CreateCgroup(*own, name) : own;
  if (absl::IsAlreadyExists(cgroup.status())) {
    // Left by a guardian that had our pid and died with its executor fork
    // server: stale, as that pid is ours now. Taken over; the first Clear
    // (before the first executor) empties it.
    cgroup = *own + "/" + name;
    Log().debug("taking over the stale cgroup {}", *cgroup);
  }
  absl::StatusOr<UniqueFd> fd =
      cgroup.ok() ? OpenCgroup(*cgroup) : absl::StatusOr<UniqueFd>(cgroup.status());
  if (!fd.ok()) {
    if (cgroup.ok()) (void)RemoveCgroupTree(*cgroup, /*keep_top=*/false);
    Log().info(
        "no cgroup for the daemon ({}): what escapes the executor's process group is "
        "killed when re-parented to the guardian, at each executor exit",
        std::string(fd.status().message()));
    return containment;
  }
  containment->cgroup_ = *cgroup;
  containment->cgroup_fd_ = std::move(*fd);
  Log().debug("the daemon's processes run in cgroup {}", containment->cgroup_);
  return containment;
}

Containment::~Containment() {
  StopWatching();
  loop_->CancelTimer(deadline_);
}

void Containment::Clear(pid_t keep, bool final, std::function<void()> done) {
  StopWatching();
  loop_->CancelTimer(deadline_);
  deadline_ = 0;
  keep_ = keep;
  final_ = final;
  done_ = std::move(done);
  // Between two executors, with a cgroup: everything of the daemon is in
  // it (only a process with write access to cgroup files can leave), so
  // an empty one means nothing to do, and no /proc scan on the way to the
  // restart.
  if (!cgroup_.empty() && !final) {
    absl::StatusOr<bool> populated = CgroupPopulated(cgroup_);
    if (populated.ok() && !*populated) {
      Finish();
      return;
    }
  }
  StartCleaners();
}

// --- 1. Cleaners --------------------------------------------------------

void Containment::StartCleaners() {
  Enter(Stage::kCleaners);
  for (pid_t pid : ChildPids()) {
    if (pid == keep_ || !IsWorkerForkServer(pid, worker_path_)) continue;
    if (UniqueFd pidfd = OpenPidfd(pid)) WatchProcess(pid, std::move(pidfd));
  }
  if (!cgroup_.empty()) {
    const std::vector<std::string> tree = CgroupTree(cgroup_);
    for (size_t i = 1; i < tree.size(); ++i) {
      if (!IsPoolCgroup(tree[i])) continue;
      absl::StatusOr<UniqueFd> events = OpenCgroupEvents(tree[i]);
      if (events.ok()) WatchCgroup(std::move(*events));
    }
  }
  StepCleaners(/*expired=*/false);
}

void Containment::StepCleaners(bool expired) {
  bool populated = false;
  for (const UniqueFd& events : cgroups_) {  // each read clears its condition
    absl::StatusOr<bool> here = ReadCgroupPopulated(events.get());
    populated = populated || (here.ok() && *here);
  }
  if (!expired && (populated || !AllGone())) return;
  for (const Watched& process : processes_) {
    if (process.gone || HasExited(process.fd.get())) continue;
    Log().warn("worker fork server {} still cleaning up after {}; killed", process.pid,
               absl::FormatDuration(stage_wait_));
    SignalPidfd(process.fd.get(), SIGKILL);
  }
  StartCgroup();
}

// --- 2. The cgroup ------------------------------------------------------

void Containment::StartCgroup() {
  if (cgroup_.empty()) {
    StartChildren();
    return;
  }
  Enter(Stage::kCgroup);
  killed_ = 0;
  by_cgroup_kill_ = false;
  absl::StatusOr<UniqueFd> events = OpenCgroupEvents(cgroup_);
  if (!events.ok()) {
    Log().warn("cgroup {}: {}", cgroup_, std::string(events.status().message()));
    StartChildren();
    return;
  }
  WatchCgroup(std::move(*events));
  absl::StatusOr<bool> populated = ReadCgroupPopulated(cgroups_.front().get());
  if (populated.ok() && !*populated) {
    EndCgroup();
    return;
  }
  KillPass();
}

void Containment::KillPass() {
  // cgroup.kill only on what is removed right after (see ClearCgroup in
  // common/process/cgroup.cc): a cgroup kept for the next executor is killed pid
  // by pid.
  absl::StatusOr<CgroupKillPass> pass = KillCgroupTreeOnce(cgroup_, /*use_cgroup_kill=*/final_);
  if (!pass.ok()) {
    Log().warn("cgroup {}: {}", cgroup_, std::string(pass.status().message()));
    StartChildren();
    return;
  }
  if (killed_ == 0) killed_ = pass->listed;
  by_cgroup_kill_ = pass->by_cgroup_kill;
  for (Watched& process : processes_) loop_->Unwatch(process.fd.get());
  processes_.clear();
  for (UniqueFd& pidfd : pass->signalled) WatchProcess(0, std::move(pidfd));
}

void Containment::StepCgroup(bool expired) {
  absl::StatusOr<bool> populated = ReadCgroupPopulated(cgroups_.front().get());
  if (populated.ok() && !*populated) {
    EndCgroup();
    return;
  }
  if (expired || !populated.ok()) {
    Log().warn("cgroup {}: {}", cgroup_,
               populated.ok() ? absl::StrCat("processes are still in it ",
                                             absl::FormatDuration(stage_wait_), " after SIGKILL")
                              : std::string(populated.status().message()));
    StartChildren();
    return;
  }
  // Every process signalled is gone, the cgroup is not empty: what they
  // forked meanwhile is left for another pass.
  if (!by_cgroup_kill_ && !processes_.empty() && AllGone()) KillPass();
}

void Containment::EndCgroup() {
  if (absl::Status removed = RemoveCgroupTree(cgroup_, /*keep_top=*/!final_); !removed.ok()) {
    Log().warn("cgroup {}: {}", cgroup_, std::string(removed.message()));
  }
  if (killed_ > 0) {
    Log().warn("killed {} leftover process{} of the daemon (in cgroup {})", killed_,
               Plural(killed_), cgroup_);
  }
  StartChildren();
}

// --- 3. Our children ----------------------------------------------------

void Containment::StartChildren() {
  Enter(Stage::kChildren);
  round_ = 0;
  NextRound();
}

void Containment::NextRound() {
  for (Watched& process : processes_) loop_->Unwatch(process.fd.get());
  processes_.clear();
  if (++round_ > kMaxRounds) {
    Finish();
    return;
  }
  for (pid_t pid : ChildPids()) {
    if (pid == keep_ || IsZombie(pid)) continue;
    UniqueFd pidfd = OpenPidfd(pid);
    if (!pidfd) continue;  // gone already
    Log().warn("killing leftover process {} of the daemon", pid);
    SignalPidfd(pidfd.get(), SIGKILL);
    WatchProcess(pid, std::move(pidfd));
  }
  if (processes_.empty()) Finish();
}

void Containment::StepChildren(bool expired) {
  if (expired) {
    int left = 0;
    for (const Watched& process : processes_) left += process.gone ? 0 : 1;
    Log().warn("{} leftover process{} of the daemon still there {} after SIGKILL", left,
               Plural(left), absl::FormatDuration(stage_wait_));
    Finish();
    return;
  }
  if (AllGone()) NextRound();  // killing them may have handed us theirs
}

void Containment::Finish() {
  StopWatching();
  loop_->CancelTimer(deadline_);
  deadline_ = 0;
  stage_ = Stage::kIdle;
  std::function<void()> done = std::exchange(done_, nullptr);
  if (done) done();
}

// --- What a stage waits for ---------------------------------------------

void Containment::Enter(Stage stage) {
  StopWatching();
  loop_->CancelTimer(deadline_);
  stage_ = stage;
  deadline_ = loop_->AddTimer(absl::Now() + stage_wait_, [this] {
    deadline_ = 0;
    Step(/*expired=*/true);
  });
}

void Containment::WatchProcess(pid_t pid, UniqueFd pidfd) {
  const int fd = pidfd.get();
  processes_.push_back(Watched{std::move(pidfd), pid, false});
  absl::Status watched = loop_->Watch(fd, [this, fd] {
    auto it = std::find_if(processes_.begin(), processes_.end(),
                           [fd](const Watched& process) { return process.fd.get() == fd; });
    if (it == processes_.end() || !HasExited(fd)) return;
    it->gone = true;
    loop_->Unwatch(fd);  // (a pidfd stays readable)
    Step(/*expired=*/false);
  });
  if (!watched.ok()) processes_.back().gone = true;  // not waited for
}

void Containment::WatchCgroup(UniqueFd events) {
  const int fd = events.get();
  cgroups_.push_back(std::move(events));
  (void)loop_->Watch(
      fd, [this] { Step(/*expired=*/false); }, EventLoop::Interest::kPriority);
}

bool Containment::AllGone() const {
  return std::all_of(processes_.begin(), processes_.end(),
                     [](const Watched& process) { return process.gone; });
}

void Containment::StopWatching() {
  for (Watched& process : processes_) loop_->Unwatch(process.fd.get());
  processes_.clear();
  for (UniqueFd& events : cgroups_) loop_->Unwatch(events.get());
  cgroups_.clear();
}

void Containment::Step(bool expired) {
  switch (stage_) {
    case Stage::kCleaners:
      StepCleaners(expired);
      break;
    case Stage::kCgroup:
      StepCgroup(expired);
      break;
    case Stage::kChildren:
      StepChildren(expired);
      break;
    case Stage::kIdle:
      break;
  }
}

}  // namespace appkit::guardian
