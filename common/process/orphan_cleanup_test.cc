// OrphanCleanup with real processes forked here, standing in for a fork
// server's children: each leads its own group, holds its pid file, and
// may leave a grandchild behind in its group when it dies.
#include "common/process/orphan_cleanup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/base/unique_fd.h"
#include "common/process/pid_file.h"
#include "gtest/gtest.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using testing::FileExists;
using testing::ProcessAlive;
using testing::TempDir;

struct Child {
  pid_t pid = 0;
  pid_t grandchild = 0;  // 0: none
};

// A child that leads its own group, holds `pid_file` (when not empty),
// starts a grandchild in its group when asked, then pauses (or exits at
// once when `exit` is set; its pid file stays behind, stale, as after a
// SIGKILL). Returns once all that is done.
Child StartChild(const std::string& pid_file, bool grandchild, bool exit = false) {
  int ready[2];
  EXPECT_EQ(pipe2(ready, O_CLOEXEC), 0);
  UniqueFd read_end(ready[0]), write_end(ready[1]);
  Child child;
  child.pid = fork();
  if (child.pid == 0) {
    setpgid(0, 0);
    std::unique_ptr<PidFile> held;
    if (!pid_file.empty()) {
      auto acquired = PidFile::Acquire(pid_file, getpid(), "test");
      if (!acquired.ok() || !acquired->file) _exit(3);
      held = std::move(acquired->file);
    }
    pid_t grandchild_pid = 0;
    if (grandchild) {
      grandchild_pid = fork();
      if (grandchild_pid == 0) {
        for (;;) pause();
      }
    }
    (void)!write(write_end.get(), &grandchild_pid, sizeof(grandchild_pid));
    if (exit) _exit(0);  // without ~PidFile: the file stays
    for (;;) pause();
  }
  write_end.reset();
  EXPECT_EQ(read(read_end.get(), &child.grandchild, sizeof(child.grandchild)),
            sizeof(child.grandchild));
  return child;
}

void Reap(pid_t pid) {
  int status;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
}

// The fork server's case: the supervisor died, its children died with it
// (their parent-death signal), and what they started lives on in their
// groups with their pid files left behind.
TEST(OrphanCleanupTest, CleanupKillsTheGroupsAndRemovesTheStalePidFiles) {
  TempDir dir;
  OrphanCleanup orphans;
  std::vector<Child> children;
  for (int i = 0; i < 2; ++i) {
    children.push_back(StartChild(dir.File(absl::StrCat("worker", i, ".pid")), true));
    orphans.Track(children.back().pid, dir.File(absl::StrCat("worker", i, ".pid")));
  }
  Child no_file = StartChild("", true);
  orphans.Track(no_file.pid, "");
  children.push_back(no_file);
  for (const Child& child : children) {
    kill(child.pid, SIGKILL);  // as its parent-death signal does
    Reap(child.pid);
  }
  orphans.Cleanup();
  for (const Child& child : children) {
    EXPECT_TRUE(testing::WaitForExit(child.grandchild)) << "grandchild " << child.grandchild;
  }
  EXPECT_FALSE(FileExists(dir.File("worker0.pid")));
  EXPECT_FALSE(FileExists(dir.File("worker1.pid")));
}

// Cleanup waits (bounded) for the tracked children themselves, which die
// of their parent-death signal in the real case; here they are still
// alive, and Cleanup's SIGKILL to their groups takes them too.
TEST(OrphanCleanupTest, CleanupTakesLiveChildrenWithTheirGroups) {
  TempDir dir;
  OrphanCleanup orphans;
  Child child = StartChild(dir.File("live.pid"), true);
  orphans.Track(child.pid, dir.File("live.pid"));
  orphans.Cleanup();
  int status = 0;
  ASSERT_EQ(waitpid(child.pid, &status, WNOHANG), child.pid) << "gone when Cleanup returns";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_TRUE(testing::WaitForExit(child.grandchild));
  EXPECT_FALSE(FileExists(dir.File("live.pid")));
}

// A pid file that a new owner took since is not the dead child's: kept.
TEST(OrphanCleanupTest, APidFileThatIsNoLongerTheChildsIsLeftAlone) {
  TempDir dir;
  const std::string pid_file = dir.File("taken.pid");
  OrphanCleanup orphans;
  Child child = StartChild(pid_file, false, /*exit=*/true);
  orphans.Track(child.pid, pid_file);
  Reap(child.pid);
  auto taken = PidFile::Acquire(pid_file, getpid(), "test");  // replaces the stale file
  ASSERT_TRUE(taken.ok() && taken->file) << taken.status();
  orphans.Cleanup();
  EXPECT_TRUE(FileExists(pid_file));
  EXPECT_EQ(testing::ReadFileOrEmpty(pid_file), absl::StrCat(getpid(), "\n"));
}

// Now and then Track forgets the children gone with their whole group,
// removing their stale pid files, and keeps those whose group lives on.
TEST(OrphanCleanupTest, TrackPrunesChildrenGoneWithTheirWholeGroup) {
  TempDir dir;
  OrphanCleanup orphans;
  std::vector<std::string> gone_files;
  for (int i = 0; i < 63; ++i) {
    gone_files.push_back(dir.File(absl::StrCat("gone", i, ".pid")));
    Child child = StartChild(gone_files.back(), false, /*exit=*/true);
    orphans.Track(child.pid, gone_files.back());
    Reap(child.pid);
  }
  for (const std::string& file : gone_files) ASSERT_TRUE(FileExists(file)) << "not pruned yet";
  // The 64th entry: its child exits, its grandchild lives on in its group.
  const std::string kept_file = dir.File("kept.pid");
  Child kept = StartChild(kept_file, true, /*exit=*/true);
  orphans.Track(kept.pid, kept_file);
  Reap(kept.pid);
  for (const std::string& file : gone_files) EXPECT_FALSE(FileExists(file)) << file;
  EXPECT_TRUE(FileExists(kept_file)) << "its group lives on";
  // (Pruned once more at the next Track past the count, which doubles.)
  EXPECT_TRUE(ProcessAlive(kept.grandchild));
  orphans.Cleanup();
  EXPECT_TRUE(testing::WaitForExit(kept.grandchild));
  EXPECT_FALSE(FileExists(kept_file));
}

}  // namespace
}  // namespace appkit
