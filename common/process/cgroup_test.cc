// common/cgroup: finding our cgroup2 directory (parsers, on texts), names,
// and, with a usable cgroup2 (root here and in CI; skipped with a message
// elsewhere), real cgroups: children started in them by the fork server
// and by Spawn (cloned in, or joining), killing a tree (cgroup.kill and
// pid by pid), waiting on cgroup.events, removal, and the cleanup that
// lets a pool's fork server finish first.
#include "common/process/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/base/fd_io.h"
#include "common/process/fork_server.h"
#include "common/process/spawn.h"
#include "gtest/gtest.h"
#include "testing/process_helpers.h"

namespace appkit {
namespace {

constexpr char kMountinfo[] =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

TEST(CgroupDirTest, IsTheCgroup2MountPlusTheZeroLine) {
  EXPECT_EQ(*CgroupDirFrom(kMountinfo, "4:memory:/x\n0::/\n"), "/sys/fs/cgroup/unified");
  EXPECT_EQ(*CgroupDirFrom(kMountinfo, "0::/system.slice/a.service\n"),
            "/sys/fs/cgroup/unified/system.slice/a.service");
}

TEST(CgroupDirTest, OptionalFieldsEscapesAndAMountOfASubtree) {
  // Optional fields before "-", a space in the mount point, a mount whose
  // root is a subtree of the hierarchy.
  const char mountinfo[] =
      "50 1 0:40 /delegated /mnt/my\\040cg rw shared:7 master:2 - cgroup2 none rw\n";
  EXPECT_EQ(*CgroupDirFrom(mountinfo, "0::/delegated/app\n"), "/mnt/my cg/app");
  EXPECT_EQ(*CgroupDirFrom(mountinfo, "0::/delegated\n"), "/mnt/my cg");
}

TEST(CgroupDirTest, SaysWhyThereIsNone) {
  auto no_mount = CgroupDirFrom("31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n", "0::/\n");
  EXPECT_TRUE(absl::StrContains(no_mount.status().message(), "cgroup2 is not mounted"))
      << no_mount.status();
  auto no_line = CgroupDirFrom(kMountinfo, "4:memory:/x\n");
  EXPECT_TRUE(absl::StrContains(no_line.status().message(), "0::")) << no_line.status();
  const char sub[] = "50 1 0:40 /delegated /mnt/cg rw - cgroup2 none rw\n";
  auto outside = CgroupDirFrom(sub, "0::/elsewhere\n");
  EXPECT_TRUE(absl::StrContains(outside.status().message(), "/elsewhere")) << outside.status();
  EXPECT_TRUE(absl::StrContains(outside.status().message(), "/mnt/cg")) << outside.status();
  // "/delegatedx" is not below "/delegated".
  EXPECT_FALSE(CgroupDirFrom(sub, "0::/delegatedx\n").ok());
}

TEST(CgroupNameTest, SafeCharactersOnly) {
  EXPECT_EQ(DaemonCgroupName("/var/run/demo.pid", 42), "appkit-demo.pid-42");
  EXPECT_EQ(DaemonCgroupName("/tmp/a b\n$c.pid", 7), "appkit-a_b__c.pid-7");
  EXPECT_EQ(PoolCgroupName(9), "appkit-pool-9");
  EXPECT_EQ(WorkerCgroupName(3, "../w/1"), "w3-.._w_1");
  EXPECT_EQ(WorkerCgroupName(0, std::string(300, 'x')), "w0-" + std::string(64, 'x'));
}

// ---------------------------------------------------------------------------
// Real cgroups.

std::string Server() { return testing::RunfilePath("common/process/fork_server_test_server"); }

class LiveCgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv(kCgroupModeEnv);
    auto own = OwnCgroupDir();
    if (!own.ok()) GTEST_SKIP() << "no usable cgroup2: " << own.status();
    auto made = CreateCgroup(*own, absl::StrCat("appkit-test-", getpid(), "-", counter_++));
    if (!made.ok()) GTEST_SKIP() << "no usable cgroup2: " << made.status();
    parent_ = *own;
    path_ = *made;
  }
  void TearDown() override {
    unsetenv(kCgroupModeEnv);
    if (path_.empty()) return;
    auto cleared = ClearCgroup(path_, absl::Seconds(2), /*keep_top=*/false);
    EXPECT_TRUE(cleared.ok()) << cleared.status();
    for (pid_t pid : children_) waitpid(pid, nullptr, 0);
    struct stat st;
    EXPECT_NE(stat(path_.c_str(), &st), 0) << path_ << " left behind";
  }

  // A `sleep` started in `cgroup` (our child; reaped in TearDown unless
  // the test does).
  pid_t SleepIn(const std::string& cgroup, const std::string& seconds = "1000") {
    auto fd = OpenCgroup(cgroup);
    EXPECT_TRUE(fd.ok()) << fd.status();
    SpawnOptions options;
    options.argv = {"/bin/sleep", seconds};
    options.cgroup_fd = fd->get();
    auto pid = Spawn(options);
    EXPECT_TRUE(pid.ok()) << pid.status();
    if (!pid.ok()) return 0;
    children_.push_back(*pid);
    return *pid;
  }

  static std::string CgroupOf(pid_t pid) {
    return ReadFile("/proc/" + std::to_string(pid) + "/cgroup");
  }
  static std::string ReadFile(const std::string& path) {
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    return fd ? ReadAll(fd.get()).value_or("") : "";
  }
  // The "0::" path of a cgroup directory.
  std::string Relative(const std::string& cgroup) const {
    std::string own_line;
    for (absl::string_view line : absl::StrSplit(ReadFile("/proc/self/cgroup"), '\n')) {
      if (absl::StartsWith(line, "0::")) own_line = std::string(line.substr(3));
    }
    std::string rel = cgroup.substr(parent_.size());
    return own_line == "/" ? rel : own_line + rel;
  }

  static int counter_;
  std::string parent_, path_;
  std::vector<pid_t> children_;
};
int LiveCgroupTest::counter_ = 0;

TEST_F(LiveCgroupTest, CreateRefusesAnExistingNameAPlainDirectoryAndOffMode) {
  const std::string name = path_.substr(path_.rfind('/') + 1);
  auto again = CreateCgroup(parent_, name);
  EXPECT_TRUE(absl::StrContains(again.status().message(), path_)) << again.status();
  auto plain = CreateCgroup("/tmp", "appkit-not-a-cgroup");
  EXPECT_TRUE(absl::StrContains(plain.status().message(), "/tmp is not a cgroup2 directory"))
      << plain.status();
  setenv(kCgroupModeEnv, "off", 1);
  auto off = CreateCgroup(path_, "child");
  EXPECT_TRUE(absl::StrContains(off.status().message(), "APPKIT_CGROUPS=off")) << off.status();
}

TEST_F(LiveCgroupTest, ForkServerChildrenStartInTheCgroupSent) {
  for (const char* mode : {"auto", "join"}) {
    setenv(kCgroupModeEnv, mode, 1);  // the server reads it at its start
    const std::string cgroup = *CreateCgroup(path_, std::string("children-") + mode);
    auto server = ForkServer::Start(Server(), {});
    ASSERT_TRUE(server.ok()) << server.status();
    auto fd = OpenCgroup(cgroup);
    ASSERT_TRUE(fd.ok()) << fd.status();
    int data[2], ids[2];
    ASSERT_EQ(pipe2(data, O_CLOEXEC), 0);
    ASSERT_EQ(pipe2(ids, O_CLOEXEC), 0);
    UniqueFd data_read(data[0]), data_write(data[1]), ids_read(ids[0]), ids_write(ids[1]);
    auto pid = (*server)->Fork("cgroup", {{data_write.get(), 3}, {ids_write.get(), 4}}, fd->get());
    ASSERT_TRUE(pid.ok()) << pid.status();
    data_write.reset();
    const std::string seen = ReadAll(data_read.get()).value_or("");
    int status = 0;
    ASSERT_EQ(waitpid(*pid, &status, 0), *pid);  // still our own child
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << mode;
    EXPECT_TRUE(absl::StrContains(seen, "0::" + Relative(cgroup) + "\n")) << mode << ": " << seen;
  }
}

TEST_F(LiveCgroupTest, AChildThatCannotJoinItsCgroupExitsSayingWhy) {
  setenv(kCgroupModeEnv, "join", 1);
  const std::string cgroup = *CreateCgroup(path_, "doomed");
  auto server = ForkServer::Start(Server(), {});
  ASSERT_TRUE(server.ok()) << server.status();
  auto fd = OpenCgroup(cgroup);
  ASSERT_TRUE(fd.ok());
  ASSERT_EQ(rmdir(cgroup.c_str()), 0);  // gone before the child joins
  int data[2], err[2];
  ASSERT_EQ(pipe2(data, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(err, O_CLOEXEC), 0);
  UniqueFd data_read(data[0]), data_write(data[1]), err_read(err[0]), err_write(err[1]);
  auto pid = (*server)->Fork("cgroup", {{data_write.get(), 3}, {err_write.get(), 2}}, fd->get());
  ASSERT_TRUE(pid.ok()) << pid.status();
  err_write.reset();
  const std::string said = ReadAll(err_read.get()).value_or("");
  int status = 0;
  ASSERT_EQ(waitpid(*pid, &status, 0), *pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 127);
  EXPECT_TRUE(absl::StrContains(said, "cannot join its cgroup")) << said;
}

TEST_F(LiveCgroupTest, AForkIntoACgroupThatIsGoneIsAnError) {
  const std::string gone = *CreateCgroup(path_, "gone");
  auto fd = OpenCgroup(gone);
  ASSERT_TRUE(fd.ok());
  ASSERT_EQ(rmdir(gone.c_str()), 0);
  auto server = ForkServer::Start(Server(), {});
  ASSERT_TRUE(server.ok()) << server.status();
  int data[2];
  ASSERT_EQ(pipe2(data, O_CLOEXEC), 0);
  UniqueFd data_read(data[0]), data_write(data[1]);
  auto pid = (*server)->Fork("cgroup", {{data_write.get(), 3}}, fd->get());
  EXPECT_FALSE(pid.ok());
  EXPECT_TRUE(absl::StrContains(pid.status().message(), "cannot fork")) << pid.status();
  if (pid.ok()) children_.push_back(*pid);
}

TEST_F(LiveCgroupTest, SpawnStartsTheChildInTheCgroupClonedOrJoining) {
  for (const char* mode : {"auto", "join"}) {
    setenv(kCgroupModeEnv, mode, 1);
    const std::string cgroup = *CreateCgroup(path_, std::string("spawned-") + mode);
    pid_t pid = SleepIn(cgroup);
    ASSERT_GT(pid, 0);
    EXPECT_TRUE(absl::StrContains(CgroupOf(pid), "0::" + Relative(cgroup) + "\n"))
        << mode << ": " << CgroupOf(pid);
  }
  // A cgroup that cannot be entered is Spawn's error.
  const std::string gone = *CreateCgroup(path_, "gone");
  auto fd = OpenCgroup(gone);
  ASSERT_EQ(rmdir(gone.c_str()), 0);
  for (const char* mode : {"auto", "join"}) {
    setenv(kCgroupModeEnv, mode, 1);
    SpawnOptions options;
    options.argv = {"/bin/sleep", "1000"};
    options.cgroup_fd = fd->get();
    auto pid = Spawn(options);
    EXPECT_FALSE(pid.ok()) << mode;
    if (pid.ok()) children_.push_back(*pid);
  }
}

TEST_F(LiveCgroupTest, ClearKillsTheWholeTreeWaitsAndRemovesIt) {
  const std::string sub = *CreateCgroup(path_, "sub");
  const std::string deeper = *CreateCgroup(sub, "deeper");
  std::vector<pid_t> pids = {SleepIn(path_), SleepIn(sub), SleepIn(deeper)};
  EXPECT_TRUE(*CgroupPopulated(path_));
  EXPECT_FALSE(WaitUntilCgroupEmpty(path_, absl::Now() + absl::Milliseconds(20)));
  auto removed = RemoveCgroupTree(path_, false);  // populated: refused, naming it
  EXPECT_TRUE(absl::StrContains(removed.message(), deeper)) << removed;
  auto killed = ClearCgroup(path_, absl::Seconds(2), /*keep_top=*/true);
  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_EQ(*killed, 3);
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  }
  children_.clear();
  struct stat st;
  EXPECT_EQ(stat(path_.c_str(), &st), 0) << "keep_top removed it";
  EXPECT_NE(stat(sub.c_str(), &st), 0) << sub << " left";
  EXPECT_FALSE(*CgroupPopulated(path_));
  EXPECT_FALSE(*CgroupPopulated(path_ + "/no-such-cgroup"));
}

TEST_F(LiveCgroupTest, ACgroupClearedAndKeptTakesNewChildrenAlive) {
  // (cgroup.kill would make the kernel SIGKILL every child cloned into it
  // afterwards: Linux 6.18 compares its parent's cgroup's kill count.)
  pid_t first = SleepIn(path_);
  auto killed = ClearCgroup(path_, absl::Seconds(2), /*keep_top=*/true);
  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_EQ(*killed, 1);
  ASSERT_EQ(waitpid(first, nullptr, 0), first);
  children_.clear();
  for (const char* mode : {"auto", "join"}) {
    setenv(kCgroupModeEnv, mode, 1);
    // A child that says it runs (one killed at birth says nothing).
    int said[2];
    ASSERT_EQ(pipe2(said, O_CLOEXEC), 0);
    UniqueFd said_read(said[0]), said_write(said[1]);
    auto fd = OpenCgroup(path_);
    ASSERT_TRUE(fd.ok());
    SpawnOptions options;
    options.argv = {"/bin/sh", "-c", "echo alive >&3"};
    options.fds = {{said_write.get(), 3}};
    options.cgroup_fd = fd->get();
    auto pid = Spawn(options);
    ASSERT_TRUE(pid.ok()) << pid.status();
    said_write.reset();
    EXPECT_EQ(ReadAll(said_read.get()).value_or(""), "alive\n") << mode << ": killed at birth";
    int status = 0;
    ASSERT_EQ(waitpid(*pid, &status, 0), *pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << mode << ": " << status;
  }
}

TEST_F(LiveCgroupTest, KillingPidByPidWorksWithoutCgroupKill) {
  const std::string sub = *CreateCgroup(path_, "sub");
  std::vector<pid_t> pids = {SleepIn(path_), SleepIn(sub)};
  auto killed = KillCgroupTree(path_, absl::Now() + absl::Seconds(2), /*use_cgroup_kill=*/false);
  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_EQ(*killed, 2);
  EXPECT_TRUE(WaitUntilCgroupEmpty(path_, absl::Now() + absl::Seconds(2)));
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  }
  children_.clear();
}

TEST_F(LiveCgroupTest, ClearLetsAPoolFinishItsCleanupFirst) {
  // A pool's fork server that outlived its controller (here: a sleep of
  // 0.3 s in a pool cgroup) ends on its own; the stray beside it is killed.
  const std::string pool = *CreateCgroup(path_, std::string(kPoolCgroupPrefix) + "1");
  pid_t cleaner = SleepIn(pool, "0.3");
  pid_t stray = SleepIn(path_);
  auto killed = ClearCgroup(path_, absl::Seconds(5), /*keep_top=*/false);
  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_EQ(*killed, 1);
  int status = 0;
  ASSERT_EQ(waitpid(cleaner, &status, 0), cleaner);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the cleaner was killed";
  ASSERT_EQ(waitpid(stray, &status, 0), stray);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  children_.clear();
  // ... but only for `wait`: a pool that does not empty is killed too.
  ASSERT_TRUE(CreateCgroup(parent_, path_.substr(path_.rfind('/') + 1)).ok());
  const std::string stuck_pool = *CreateCgroup(path_, std::string(kPoolCgroupPrefix) + "2");
  pid_t stuck = SleepIn(stuck_pool);
  const absl::Time start = absl::Now();
  killed = ClearCgroup(path_, absl::Milliseconds(200), /*keep_top=*/false);
  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
  ASSERT_EQ(waitpid(stuck, &status, 0), stuck);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  children_.clear();
}

TEST_F(LiveCgroupTest, JoinMovesTheCallerAndNamesACgroupItCannotJoin) {
  pid_t child = fork();
  if (child == 0) _exit(JoinCgroup(path_).ok() ? 0 : 1);
  children_.push_back(child);
  ASSERT_TRUE(testing::WaitFor([&] { return !testing::ProcessAlive(child); }));
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  children_.clear();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto bad = JoinCgroup(path_ + "/missing");
  EXPECT_TRUE(absl::StrContains(bad.message(), path_ + "/missing")) << bad;
}

}  // namespace
}  // namespace appkit
