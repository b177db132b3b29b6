#include "controller/worker_cgroups.h"
#include "common/base/log.h"

#include <unistd.h>

#include "absl/time/time.h"
#include "common/process/cgroup.h"
#include "spdlog/spdlog.h"

namespace appkit::controller {

std::unique_ptr<WorkerCgroups> WorkerCgroups::Create() {
  absl::StatusOr<std::string> own = OwnCgroupDir();
  const std::string name = PoolCgroupName(getpid());
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
  return std::unique_ptr<WorkerCgroups>(new WorkerCgroups(*pool));
}

WorkerCgroups::~WorkerCgroups() {
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

void WorkerCgroups::AfterWorker(int index, const std::string& name, pid_t pid) {
  if (created_.count(index) == 0) return;
  const std::string cgroup = pool_ + "/" + WorkerCgroupName(index, name);
  absl::StatusOr<bool> populated = CgroupPopulated(cgroup);
  if (populated.ok() && !*populated) return;  // the usual case: nothing left
  absl::StatusOr<int> killed = ClearCgroup(cgroup, absl::Seconds(2), /*keep_top=*/true);
  if (!killed.ok()) {
    Log().warn("worker {} (pid {}): cgroup {}: {}", name, pid, cgroup,
               std::string(killed.status().message()));
  } else if (*killed > 0) {
    Log().warn("worker {} (pid {}) left {} process{} behind; killed", name, pid, *killed,
               *killed == 1 ? "" : "es");
  }
}

}  // namespace appkit::controller
