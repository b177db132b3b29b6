// common/pid_file: the race protocol, and what a reader may conclude from a
// pid file (never a pid it did not verify).
#include "common/process/pid_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::FileExists;
using ::appkit::testing::ReadFileOrEmpty;
using Holder = PidFile::Holder;

// The base name of this test binary: what a holder forked from it runs.
std::string SelfName() {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  std::string path(exe, n > 0 ? n : 0);
  return path.substr(path.rfind('/') + 1);
}

// A child process that acquires `path` and holds it until released; with
// `then_euid`, it then takes that effective uid (its real uid unchanged).
class Holding {
 public:
  explicit Holding(const std::string& path, uid_t then_euid = static_cast<uid_t>(-1)) {
    int ready[2], release[2];
    EXPECT_EQ(pipe(ready), 0);
    EXPECT_EQ(pipe(release), 0);
    pid_ = fork();
    if (pid_ == 0) {
      close(ready[0]);
      close(release[1]);
      auto acquired = PidFile::Acquire(path, getpid(), SelfName());
      char ok = acquired.ok() && acquired->file ? 1 : 0;
      if (then_euid != static_cast<uid_t>(-1) && setresuid(-1, then_euid, -1) != 0) ok = 0;
      (void)!write(ready[1], &ok, 1);
      char byte;
      (void)!read(release[0], &byte, 1);
      _exit(0);  // the PidFile is not destroyed: the file stays, stale
    }
    close(ready[1]);
    close(release[0]);
    release_ = release[1];
    char ok = 0;
    EXPECT_EQ(read(ready[0], &ok, 1), 1);
    EXPECT_EQ(ok, 1);
    close(ready[0]);
  }
  ~Holding() {
    close(release_);
    waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_;
  int release_;
};

TEST(PidFileTest, AcquireWritesTheLockedPidAndTheDestructorRemovesIt) {
  testing::TempDir dir;
  const std::string path = dir.File("d.pid");
  {
    auto acquired = PidFile::Acquire(path, getpid(), SelfName());
    ASSERT_TRUE(acquired.ok()) << acquired.status();
    ASSERT_TRUE(acquired->file);
    EXPECT_EQ(ReadFileOrEmpty(path), absl::StrCat(getpid(), "\n"));
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);
  }
  EXPECT_FALSE(FileExists(path));
}

TEST(PidFileTest, AHeldFileIsReportedWithItsVerifiedHolder) {
  testing::TempDir dir;
  const std::string path = dir.File("d.pid");
  Holding holder(path);
  auto inspected = PidFile::Inspect(path, SelfName());
  ASSERT_TRUE(inspected.ok()) << inspected.status();
  EXPECT_EQ(inspected->state, Holder::State::kRunning);
  EXPECT_EQ(inspected->pid, holder.pid());
  EXPECT_TRUE(PidFile::StillHeldBy(path, holder.pid(), SelfName()));
  auto second = PidFile::Acquire(path, getpid(), SelfName());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->file);
  EXPECT_EQ(second->running_pid, holder.pid());
}

// A holder in a child PID namespace (a daemon in a container) writes the
// pid it has there; a reader outside finds it through the holder's NSpid
// and reports the holder as the reader sees it (the pid to signal).
TEST(PidFileTest, AHolderInAChildPidNamespaceIsIdentifiedFromOutside) {
  testing::TempDir dir;
  const std::string path = dir.File("d.pid");
  int ready[2], release[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(release), 0);
  pid_t child = fork();
  if (child == 0) {
    close(ready[0]);
    close(release[1]);
    pid_t outside = 0;
    if (unshare(CLONE_NEWPID) != 0) {
      outside = -errno;
      (void)!write(ready[1], &outside, sizeof(outside));
      _exit(0);
    }
    pid_t init = fork();  // pid 1 in the new namespace
    if (init == 0) {
      pid_t holder = fork();  // pid 2 there: a pid file never names 1
      if (holder == 0) {
        auto acquired = PidFile::Acquire(path, getpid(), SelfName());
        char self[32] = {};  // /proc is the outer namespace's: our pid there
        outside = acquired.ok() && acquired->file && readlink("/proc/self", self, 31) > 0
                      ? atoi(self)
                      : 0;
        (void)!write(ready[1], &outside, sizeof(outside));
        char byte;
        (void)!read(release[0], &byte, 1);
        _exit(0);
      }
      waitpid(holder, nullptr, 0);
      _exit(0);
    }
    waitpid(init, nullptr, 0);
    _exit(0);
  }
  close(ready[1]);
  close(release[0]);
  pid_t outside = 0;
  EXPECT_EQ(read(ready[0], &outside, sizeof(outside)), static_cast<ssize_t>(sizeof(outside)));
  close(ready[0]);
  if (outside < 0) {
    close(release[1]);
    waitpid(child, nullptr, 0);
    GTEST_SKIP() << "no new PID namespace here: " << strerror(-outside);
  }
  ASSERT_GT(outside, 2);
  EXPECT_EQ(ReadFileOrEmpty(path), "2\n");
  auto inspected = PidFile::Inspect(path, SelfName());
  ASSERT_TRUE(inspected.ok()) << inspected.status();
  EXPECT_EQ(inspected->state, Holder::State::kRunning) << inspected->why;
  EXPECT_EQ(inspected->pid, outside);
  EXPECT_TRUE(PidFile::StillHeldBy(path, outside, SelfName()));
  close(release[1]);
  waitpid(child, nullptr, 0);
}

// The holder's effective uid must be the file's owner: a process that
// holds the lock but runs as someone else is not the daemon.
TEST(PidFileTest, AHolderNotRunningAsTheFilesOwnerIsForeign) {
  if (geteuid() != 0) GTEST_SKIP() << "changing a holder's uid needs root";
  testing::TempDir dir;
  const std::string path = dir.File("d.pid");
  Holding holder(path, /*then_euid=*/65534);
  auto inspected = PidFile::Inspect(path, SelfName());
  ASSERT_TRUE(inspected.ok()) << inspected.status();
  EXPECT_EQ(inspected->state, Holder::State::kForeign);
  EXPECT_TRUE(absl::StrContains(inspected->why, "does not run as the file's owner (uid 0)"))
      << inspected->why;
}

TEST(PidFileTest, AHolderRunningAnotherBinaryIsForeign) {
  testing::TempDir dir;
  const std::string path = dir.File("d.pid");
  Holding holder(path);
  auto inspected = PidFile::Inspect(path, "guardian");
  ASSERT_TRUE(inspected.ok());
  EXPECT_EQ(inspected->state, Holder::State::kForeign);
  EXPECT_EQ(inspected->pid, 0);
  EXPECT_TRUE(absl::StrContains(inspected->why, "not the appkit guardian")) << inspected->why;
  EXPECT_FALSE(PidFile::StillHeldBy(path, holder.pid(), "guardian"));
  auto acquired = PidFile::Acquire(path, getpid(), "guardian");
  EXPECT_FALSE(acquired.ok());
  EXPECT_TRUE(absl::StrContains(acquired.status().message(), "held by something else"));
}

TEST(PidFileTest, AnOpenFileDescriptionLockIsForeignNeverPidMinusOne) {
  testing::TempDir dir;
  const std::string path = dir.File("d.pid");
  std::ofstream(path) << "4242\n";
  int fd = open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  struct flock lock = {};
  lock.l_type = F_RDLCK;
  lock.l_whence = SEEK_SET;
  ASSERT_EQ(fcntl(fd, F_OFD_SETLK, &lock), 0);
  // Our own OFD lock conflicts with a query from this very process too.
  auto inspected = PidFile::Inspect(path, "guardian");
  ASSERT_TRUE(inspected.ok());
  EXPECT_EQ(inspected->state, Holder::State::kForeign);
  EXPECT_TRUE(absl::StrContains(inspected->why, "open file description lock"));
  close(fd);
}

// A command worker's lock (kOpenFile): it belongs to the open file, so a
// process that gets the fd keeps the file held after the acquirer let go
// of its own fds (as at its exec); readers see it held, by nobody they may
// signal; once the last fd closes it is stale.
TEST(PidFileTest, AnOpenFileLockIsHeldAsLongAsAnyFdOfItAndIsForeignToReaders) {
  testing::TempDir dir;
  const std::string path = dir.File("d.pid");
  auto acquired = PidFile::Acquire(path, getpid(), SelfName(), PidFile::LockKind::kOpenFile);
  ASSERT_TRUE(acquired.ok()) << acquired.status();
  ASSERT_TRUE(acquired->file);
  const int own = acquired->file->fd();
  const int kept = dup(own);  // what the controller receives
  ASSERT_GE(kept, 0);
  (void)acquired->file.release();  // the worker's PidFile is never destroyed
  close(own);                      // as at the worker's exec
  auto inspected = PidFile::Inspect(path, SelfName());
  ASSERT_TRUE(inspected.ok());
  EXPECT_EQ(inspected->state, Holder::State::kForeign);
  EXPECT_EQ(inspected->pid, 0);
  EXPECT_TRUE(absl::StrContains(inspected->why, "command worker")) << inspected->why;
  auto second = PidFile::Acquire(path, getpid(), SelfName());
  EXPECT_FALSE(second.ok());
  EXPECT_TRUE(absl::StrContains(second.status().message(), "held by something else"));
  close(kept);  // the program's exit: the controller lets go
  EXPECT_EQ(PidFile::Inspect(path, SelfName())->state, Holder::State::kNone);
  EXPECT_TRUE(PidFile::RemoveIfStale(path, getpid()));
  EXPECT_FALSE(FileExists(path));
}

TEST(PidFileTest, StaleAndGarbageFilesAreNoneAndReplaced) {
  testing::TempDir dir;
  const std::string path = dir.File("d.pid");
  for (const char* content : {"", "garbage\n", "1\n", "0\n", "-5\n", "99999999\n"}) {
    SCOPED_TRACE(content);
    std::ofstream(path) << content;
    auto inspected = PidFile::Inspect(path, "guardian");
    ASSERT_TRUE(inspected.ok());
    EXPECT_EQ(inspected->state, Holder::State::kNone);
    auto acquired = PidFile::Acquire(path, getpid(), SelfName());
    ASSERT_TRUE(acquired.ok()) << acquired.status();
    EXPECT_TRUE(acquired->file);
  }
}

TEST(PidFileTest, AMissingFileIsNone) {
  testing::TempDir dir;
  auto inspected = PidFile::Inspect(dir.File("none.pid"), "guardian");
  ASSERT_TRUE(inspected.ok());
  EXPECT_EQ(inspected->state, Holder::State::kNone);
}

TEST(PidFileTest, PlantedFilesAreErrorsNamingThePath) {
  testing::TempDir dir;
  ASSERT_EQ(mkfifo(dir.File("fifo.pid").c_str(), 0666), 0);
  ASSERT_EQ(symlink("/etc/passwd", dir.File("link.pid").c_str()), 0);
  for (const char* name : {"fifo.pid", "link.pid"}) {
    SCOPED_TRACE(name);
    auto inspected = PidFile::Inspect(dir.File(name), "guardian");
    EXPECT_FALSE(inspected.ok());
    EXPECT_TRUE(absl::StrContains(inspected.status().message(), dir.File(name)));
    auto acquired = PidFile::Acquire(dir.File(name), getpid(), "guardian");
    EXPECT_FALSE(acquired.ok());
    EXPECT_TRUE(absl::StrContains(acquired.status().message(), dir.File(name)));
  }
}

TEST(PidFileTest, ConcurrentStartersHaveExactlyOneWinner) {
  testing::TempDir dir;
  const std::string path = dir.File("race.pid");
  constexpr int kStarters = 8;
  int results[2], release[2];
  ASSERT_EQ(pipe(results), 0);
  ASSERT_EQ(pipe(release), 0);
  std::vector<pid_t> children;
  for (int i = 0; i < kStarters; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      close(results[0]);
      close(release[1]);
      auto acquired = PidFile::Acquire(path, getpid(), SelfName());
      // "W" for the winner, else the pid it was told runs.
      std::string line = !acquired.ok()   ? "E\n"
                         : acquired->file ? "W\n"
                                          : absl::StrCat(acquired->running_pid, "\n");
      (void)!write(results[1], line.data(), line.size());
      char byte;
      (void)!read(release[0], &byte, 1);  // the winner holds it until all have looked
      _exit(0);
    }
    children.push_back(pid);
  }
  close(results[1]);
  close(release[0]);
  std::string all;
  char buf[256];
  while (std::count(all.begin(), all.end(), '\n') < kStarters) {
    ssize_t n = read(results[0], buf, sizeof(buf));
    if (n <= 0) break;
    all.append(buf, n);
  }
  close(release[1]);
  for (pid_t child : children) waitpid(child, nullptr, 0);
  int winners = 0, errors = 0;
  for (absl::string_view line : absl::StrSplit(all, '\n', absl::SkipEmpty())) {
    winners += line == "W";
    errors += line == "E";
  }
  EXPECT_EQ(winners, 1) << all;
  EXPECT_EQ(errors, 0) << all;
}

TEST(PidFileTest, RemoveIfStaleOnlyRemovesTheDeadOwnersUnheldFile) {
  testing::TempDir dir;
  const std::string path = dir.File("d.pid");
  std::ofstream(path) << "4242\n";
  EXPECT_FALSE(PidFile::RemoveIfStale(path, 4343));  // names another pid
  EXPECT_TRUE(FileExists(path));
  bool ran = false;
  EXPECT_TRUE(PidFile::RemoveIfStale(path, 4242, [&] { ran = true; }));
  EXPECT_TRUE(ran);
  EXPECT_FALSE(FileExists(path));
}

}  // namespace
}  // namespace appkit
