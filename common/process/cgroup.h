// Cgroup: cgroup v2 containment of a supervised tree, so that nothing a
// supervised process forked outlives it, however it escaped its process
// group (setsid + double fork).
//
// Layout (each level is created by its supervisor under its own cgroup):
//   <guardian's cgroup>/appkit-<pid file base>-<guardian pid>   the daemon:
//       every executor is started in it (clone3 CLONE_INTO_CGROUP)
//     .../appkit-pool-<controller pid>   a worker pool: its fork server
//       .../w<index>-<worker name>       one per worker, for all its runs
// No controller is ever enabled, so a cgroup may hold processes and child
// cgroups at once. Paths come from /proc/self/mountinfo (the cgroup2
// mount, wherever it is) and the "0::" line of /proc/self/cgroup.
//
// Usable when cgroup2 is mounted and this process's cgroup is writable
// (root, or a delegated subtree); otherwise CreateCgroup fails, saying
// why, and callers fall back (guardian/containment.h). APPKIT_CGROUPS=off
// (internal, for tests) makes it fail always; APPKIT_CGROUPS=join
// (internal, for tests) makes children join their cgroup by writing
// cgroup.procs, as where clone3 is unavailable, instead of being cloned
// into it.
//
// Cleanup (ClearCgroup): wait, bounded, for the pool cgroups below to
// empty (a pool's fork server that outlived its controller is removing
// the workers' pid files and then leaves its cgroup), SIGKILL everything
// left (cgroup.kill, or every pid of every cgroup.procs until none is
// left: before Linux 5.14, and for a cgroup kept for more children), wait
// until empty (POLLPRI on cgroup.events, never a sleep), remove the
// cgroups deepest first. No function here logs.
#ifndef APPKIT_COMMON_CGROUP_H_
#define APPKIT_COMMON_CGROUP_H_

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/base/unique_fd.h"

namespace appkit {

// From APPKIT_CGROUPS: unset or anything else is kAuto.
enum class CgroupMode { kAuto, kOff, kJoin };
CgroupMode ConfiguredCgroupMode();
constexpr char kCgroupModeEnv[] = "APPKIT_CGROUPS";

// The directory of this process's cgroup2 cgroup, or why there is none.
absl::StatusOr<std::string> OwnCgroupDir();
// The same from the texts of /proc/self/mountinfo and /proc/self/cgroup.
absl::StatusOr<std::string> CgroupDirFrom(std::string_view mountinfo, std::string_view proc_cgroup);

// Names: [A-Za-z0-9._-] only, at most ~100 characters.
constexpr char kPoolCgroupPrefix[] = "appkit-pool-";
std::string DaemonCgroupName(const std::string& pid_filename, pid_t guardian);
std::string PoolCgroupName(pid_t controller);
std::string WorkerCgroupName(int index, const std::string& worker_name);

// Creates `parent`/`name` (mode 0755) and returns its path: an error
// naming the path when cgroups are off, `parent` is not a cgroup2
// directory, or it (or its cgroup.procs) is not writable. An existing
// directory of that name is an error too (it is someone else's).
absl::StatusOr<std::string> CreateCgroup(const std::string& parent, const std::string& name);

// An O_PATH fd of the cgroup directory `path` (close-on-exec), to start a
// child in it (ForkServer::Fork, SpawnOptions::cgroup_fd).
absl::StatusOr<UniqueFd> OpenCgroup(const std::string& path);

// Moves this process into `path` (writes "0" to its cgroup.procs).
absl::Status JoinCgroup(const std::string& path);

// Whether a process is in `path` or below ("populated 1"). A zombie is
// not. A cgroup that does not exist is empty.
absl::StatusOr<bool> CgroupPopulated(const std::string& path);

// Until `path` and below hold no process or `deadline` passes; true when
// empty (or gone).
bool WaitUntilCgroupEmpty(const std::string& path, absl::Time deadline);

// For an owner that runs an EventLoop (nothing waits): `path`'s
// cgroup.events, open for reading. A change of "populated" raises its
// urgent condition (POLLPRI, EventLoop::Interest::kPriority) until the
// file is read again with ReadCgroupPopulated.
absl::StatusOr<UniqueFd> OpenCgroupEvents(const std::string& path);
absl::StatusOr<bool> ReadCgroupPopulated(int events_fd);

// `path` and every cgroup below it, parents before children.
std::vector<std::string> CgroupTree(const std::string& path);

// SIGKILLs every process in `path` and below. Returns how many there were
// (as cgroup.procs listed them just before). With `use_cgroup_kill`, by
// cgroup.kill where there is one; else (and before Linux 5.14) pid by pid
// until none is left. Never cgroup.kill a cgroup that will take children
// cloned into it again: Linux 6.18 SIGKILLs those at birth (see
// ClearCgroup).
absl::StatusOr<int> KillCgroupTree(const std::string& path, absl::Time deadline,
                                   bool use_cgroup_kill = true);

// One pass of KillCgroupTree, without waiting: `listed` processes were in
// `path` and below; all got SIGKILL by cgroup.kill (`by_cgroup_kill`), or
// those still listed a moment later, through the pidfds in `signalled`
// (readable once each has exited). What they forked meanwhile is left
// for the next pass: run one when every pidfd is readable and the cgroup
// is still populated.
struct CgroupKillPass {
  int listed = 0;
  bool by_cgroup_kill = false;
  std::vector<UniqueFd> signalled;
};
absl::StatusOr<CgroupKillPass> KillCgroupTreeOnce(const std::string& path, bool use_cgroup_kill);

// Removes the (empty) cgroups below `path`, deepest first, then `path`
// unless `keep_top`. One that does not exist is fine.
absl::Status RemoveCgroupTree(const std::string& path, bool keep_top);

// The whole cleanup (see the top of this file), each wait bounded by
// `wait`. Returns how many processes were killed; an error when something
// is left (a cgroup that would not empty, or could not be removed). With
// `keep_top`, `path` stays, ready for more children (killed pid by pid).
absl::StatusOr<int> ClearCgroup(const std::string& path, absl::Duration wait, bool keep_top);

}  // namespace appkit

#endif  // APPKIT_COMMON_CGROUP_H_
