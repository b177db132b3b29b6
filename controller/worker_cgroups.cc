#include "controller/worker_cgroups.h"
#include "common/base/log.h"

#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/process/cgroup.h"
#include "spdlog/spdlog.h"

namespace appkit::controller {

namespace {

// Passes in a row that signalled nothing while the cgroup stayed
// populated (what was listed died first, having forked): then only
// cgroup.events or the deadline moves the clear on.
constexpr int kMaxIdlePasses = 16;

const char* Plural(int n) { return n == 1 ? "" : "es"; }

}  // namespace

std::unique_ptr<WorkerCgroups> WorkerCgroups::Create(EventLoop* loop, absl::Duration clear_wait,
                                                     const std::string& adopt) {
  absl::StatusOr<std::string> own = OwnCgroupDir();
  const std::string name = PoolCgroupName(getpid());
  if (own.ok() && !adopt.empty() && adopt == *own + "/" + name) {
    return std::unique_ptr<WorkerCgroups>(new WorkerCgroups(loop, clear_wait, adopt));
  }
  absl::StatusOr<std::string> pool = own.ok() ? CreateCgroup(*own, name) : own;
  if (absl::IsAlreadyExists(pool.status())) {
    // Left by a controller that had our pid and died with its fork
    // server: stale, as that pid is ours now.
    (void)ClearCgroup(*own + "/" + name, absl::Seconds(2), /*keep_top=*/false);
    pool = CreateCgroup(*own, name);
  }
  if (!pool.ok()) {
    Log().info(
        "controller {}: no cgroups for the workers ({}): a worker's process group "
        "is killed at its exit",
        getpid(), std::string(pool.status().message()));
    return nullptr;
  }
  return std::unique_ptr<WorkerCgroups>(new WorkerCgroups(loop, clear_wait, *pool));
}

WorkerCgroups::~WorkerCgroups() {
  for (auto& [index, clear] : clears_) Unwatch(clear);  // their `done` are dropped
  clears_.clear();
  absl::StatusOr<int> killed = ClearCgroup(pool_, absl::Seconds(2), /*keep_top=*/false);
  if (!killed.ok()) {
    Log().warn("controller {}: cgroup {}: {}", getpid(), pool_,
               std::string(killed.status().message()));
  } else if (*killed > 0) {
    Log().warn("controller {}: killed {} leftover process{} of the workers", getpid(), *killed,
               *killed == 1 ? "" : "es");
  }
}

UniqueFd WorkerCgroups::OpenPool() const {
  absl::StatusOr<UniqueFd> fd = OpenCgroup(pool_);
  if (!fd.ok()) {
    Log().error("controller {}: {}", getpid(), std::string(fd.status().message()));
    return UniqueFd();
  }
  return std::move(*fd);
}

UniqueFd WorkerCgroups::OpenWorker(int index, const std::string& name) {
  const std::string cgroup_name = WorkerCgroupName(index, name);
  if (created_.count(index) == 0) {
    absl::StatusOr<std::string> made = CreateCgroup(pool_, cgroup_name);
    if (!made.ok()) {
      Log().error("worker {}: {}; it runs without a cgroup", name,
                  std::string(made.status().message()));
      return UniqueFd();
    }
    created_.insert(index);
  }
  absl::StatusOr<UniqueFd> fd = OpenCgroup(pool_ + "/" + cgroup_name);
  if (!fd.ok()) {
    Log().error("worker {}: {}; it runs without a cgroup", name,
                std::string(fd.status().message()));
    return UniqueFd();
  }
  return std::move(*fd);
}

void WorkerCgroups::AfterWorker(int index, const std::string& name, pid_t pid,
                                std::function<void()> done) {
  if (created_.count(index) == 0 || clears_.count(index) != 0) {
    done();
    return;
  }
  const std::string cgroup = pool_ + "/" + WorkerCgroupName(index, name);
  absl::StatusOr<bool> populated = CgroupPopulated(cgroup);
  if (populated.ok() && !*populated) {  // the usual case: nothing left
    done();
    return;
  }
  absl::StatusOr<UniqueFd> events = OpenCgroupEvents(cgroup);
  if (!events.ok()) {
    Log().warn("worker {} (pid {}): cgroup {}: {}", name, pid, cgroup,
               std::string(events.status().message()));
    done();
    return;
  }
  Clear& clear = clears_[index];
  clear.cgroup = cgroup;
  clear.name = name;
  clear.pid = pid;
  clear.done = std::move(done);
  clear.events = std::move(*events);
  if (absl::Status watched = loop_->Watch(
          clear.events.get(), [this, index] { Step(index, /*expired=*/false); },
          EventLoop::Interest::kPriority);
      !watched.ok()) {
    clear.events.reset();
    Finish(index, std::string(watched.message()));
    return;
  }
  clear.timer = loop_->AddTimer(absl::Now() + clear_wait_, [this, index] {
    if (auto it = clears_.find(index); it != clears_.end()) it->second.timer = 0;
    Step(index, /*expired=*/true);
  });
  if (KillPass(index, clear)) Step(index, /*expired=*/false);
}

bool WorkerCgroups::KillPass(int index, Clear& clear) {
  // Pid by pid, never cgroup.kill: the cgroup takes the worker's next run
  // (see ClearCgroup in common/process/cgroup.cc).
  absl::StatusOr<CgroupKillPass> pass = KillCgroupTreeOnce(clear.cgroup, /*use_cgroup_kill=*/false);
  if (!pass.ok()) {
    Finish(index, std::string(pass.status().message()));
    return false;
  }
  if (clear.killed == 0) clear.killed = pass->listed;
  for (UniqueFd& pidfd : pass->signalled) {
    const int fd = pidfd.get();
    clear.signalled.push_back(std::move(pidfd));
    (void)loop_->Watch(fd, [this, index, fd] {
      auto it = clears_.find(index);
      if (it == clears_.end()) return;
      std::vector<UniqueFd>& signalled = it->second.signalled;
      loop_->Unwatch(fd);
      signalled.erase(std::remove_if(signalled.begin(), signalled.end(),
                                     [fd](const UniqueFd& one) { return one.get() == fd; }),
                      signalled.end());
      Step(index, /*expired=*/false);
    });
  }
  return true;
}

void WorkerCgroups::Step(int index, bool expired) {
  auto it = clears_.find(index);
  if (it == clears_.end()) return;
  Clear& clear = it->second;
  absl::StatusOr<bool> populated = ReadCgroupPopulated(clear.events.get());  // clears POLLPRI
  if (populated.ok() && !*populated) {
    Finish(index, "");
    return;
  }
  if (!populated.ok()) {
    Finish(index, std::string(populated.status().message()));
    return;
  }
  if (expired) {
    Finish(index, absl::StrCat("processes are still in it ", absl::FormatDuration(clear_wait_),
                               " after SIGKILL"));
    return;
  }
  // Everything signalled is gone and it is still populated: what they
  // forked meanwhile gets another pass.
  if (clear.signalled.empty() && clear.idle_passes < kMaxIdlePasses) {
    ++clear.idle_passes;
    if (KillPass(index, clear) && !clear.signalled.empty()) clear.idle_passes = 0;
  }
}

void WorkerCgroups::Unwatch(Clear& clear) {
  if (clear.events) loop_->Unwatch(clear.events.get());
  for (const UniqueFd& pidfd : clear.signalled) loop_->Unwatch(pidfd.get());
  loop_->CancelTimer(clear.timer);
}

void WorkerCgroups::Finish(int index, const std::string& trouble) {
  auto node = clears_.extract(index);
  if (node.empty()) return;
  Clear& clear = node.mapped();
  Unwatch(clear);
  if (!trouble.empty()) {
    Log().warn("worker {} (pid {}): cgroup {}: {}", clear.name, clear.pid, clear.cgroup, trouble);
  } else if (clear.killed > 0) {
    Log().warn("worker {} (pid {}) left {} process{} behind; killed", clear.name, clear.pid,
               clear.killed, Plural(clear.killed));
  }
  clear.done();
}

}  // namespace appkit::controller
