// OrphanCleanup: what a fork server does when its supervisor died by
// SIGKILL (ForkServerHooks::on_supervisor_gone), so that a SIGKILL leaves
// no orphan and no stale pid file behind.
//
// The server Tracks each child it forks (one entry per pid file: a
// restart replaces the entry; children without a pid file share one) with
// a pidfd and its start time taken right after the fork; entries of
// children gone with their whole group are pruned now and then.
// Cleanup():
//   1. SIGKILLs the process group of every tracked child (the children die
//      with the supervisor anyway, through their parent-death signal; what
//      they forked, which did not, dies here). A group is only signalled
//      while its id provably still is the child's: the child (or its
//      zombie, same start time) still holds the pid, or nobody does (then
//      only the child's own group can still carry that id);
//   2. waits (bounded) until the tracked children are gone;
//   3. removes each child's pid file if it still names the dead child and
//      nobody holds it (PidFile::RemoveIfStale).
// Single-threaded: the fork server's loop.
#ifndef APPKIT_COMMON_ORPHAN_CLEANUP_H_
#define APPKIT_COMMON_ORPHAN_CLEANUP_H_

#include <sys/types.h>

#include <map>
#include <string>

#include "absl/time/time.h"
#include "common/base/unique_fd.h"

namespace appkit {

class OrphanCleanup {
 public:
  // `pid_file` may be empty (nothing to remove for that child).
  void Track(pid_t pid, const std::string& pid_file);
  void Cleanup(absl::Duration wait = absl::Seconds(2));

 private:
  struct Child {
    pid_t pid = 0;
    unsigned long long start_time = 0;  // /proc/<pid>/stat field 22
    UniqueFd pidfd;
  };
  static constexpr char kNoPidFile[] = "(no pid file)";
  std::map<std::string, Child> children_;  // by pid file
  size_t prune_at_ = 64;
};

}  // namespace appkit

#endif  // APPKIT_COMMON_ORPHAN_CLEANUP_H_
