// SetUpChild and ForkChild with real forked children: each test forks a
// child that prepares its own fds and signals, applies a ChildSetup, and
// writes what it then sees to a report file (a child cannot run
// assertions); the test checks the report and the exit status.
#include "common/child_setup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fd_io.h"
#include "common/unique_fd.h"
#include "gtest/gtest.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using testing::ReadFileOrEmpty;
using testing::TempDir;

struct Outcome {
  int status = 0;      // as waitpid gives it
  std::string report;  // what the child wrote after its set-up ("" if it died before)
  int exit_code() const { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }
};

// Forks a child that runs `prepare` (it may open and move its own fds),
// SetUpChild, then `check`, and writes what `check` returns to a report
// file. Waits for it.
Outcome RunChild(const std::function<void(ChildSetup&)>& prepare,
                 const std::function<std::string(const ChildSetupResult&)>& check) {
  TempDir dir;
  const std::string report_file = dir.File("report");
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    ChildSetup setup;
    setup.parent = parent;
    prepare(setup);
    const ChildSetupResult result = SetUpChild(setup);
    const std::string report = check(result);
    int fd = open(report_file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    (void)!write(fd, report.data(), report.size());
    _exit(0);
  }
  Outcome outcome;
  EXPECT_EQ(waitpid(pid, &outcome.status, 0), pid);
  outcome.report = ReadFileOrEmpty(report_file);
  return outcome;
}

// The fds open below 256, as "0 1 2 ...".
std::string OpenFds() {
  std::vector<int> open;
  for (int fd = 0; fd < 256; ++fd) {
    if (fcntl(fd, F_GETFD) != -1) open.push_back(fd);
  }
  return absl::StrJoin(open, " ");
}

// What `fd` is: "pipe:<inode>", "null", or "closed".
std::string Identity(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return "closed";
  if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)) return "null";
  return absl::StrCat("inode:", st.st_ino);
}

std::string Identity(const UniqueFd& fd) { return Identity(fd.get()); }

// In a child: puts each {fd, at} at number `at` and closes every other fd
// above 2, whatever numbers the fds had.
void Place(const std::vector<std::pair<int, int>>& moves) {
  std::vector<int> high;
  for (const auto& [fd, at] : moves) high.push_back(fcntl(fd, F_DUPFD_CLOEXEC, 200));
  close_range(3, 199, 0);
  for (size_t i = 0; i < moves.size(); ++i) dup2(high[i], moves[i].second);
  close_range(200, ~0U, 0);
}

// "0 1 2 " for the stdio fds open here (a child keeps them).
std::string OpenStdio() {
  std::string open;
  for (int fd = 0; fd < 3; ++fd) {
    if (fcntl(fd, F_GETFD) != -1) absl::StrAppend(&open, fd, " ");
  }
  return open;
}

struct Pipe {
  Pipe() {
    int ends[2];
    EXPECT_EQ(pipe2(ends, O_CLOEXEC), 0);
    read_end.reset(ends[0]);
    write_end.reset(ends[1]);
  }
  UniqueFd read_end, write_end;
};

TEST(ChildSetupTest, KeepsExactlyTheTargetsAndStdioClosingStraysEvenWithoutCloexec) {
  Pipe a, b;
  const std::string a_id = Identity(a.write_end), b_id = Identity(b.write_end);
  Outcome outcome = RunChild(
      [&](ChildSetup& setup) {
        (void)!dup(a.read_end.get());  // a stray without close-on-exec
        setup.AddFd(a.write_end.get(), 5);
        setup.AddFd(b.write_end.get(), 3);
      },
      [](const ChildSetupResult& result) {
        return absl::StrCat(result.ok(), " ", OpenFds(), " ", Identity(5), " ", Identity(3), " ",
                            fcntl(5, F_GETFD), fcntl(3, F_GETFD));
      });
  EXPECT_EQ(outcome.exit_code(), 0);
  EXPECT_EQ(outcome.report, absl::StrCat("1 ", OpenStdio(), "3 5 ", a_id, " ", b_id, " 00"))
      << "fds 3 and 5 installed (without close-on-exec), nothing else open";
}

TEST(ChildSetupTest, SourcesThatAreEachOthersTargetsAreSwappedNotClobbered) {
  Pipe a, b;
  const std::string a_id = Identity(a.write_end), b_id = Identity(b.write_end);
  Outcome outcome = RunChild(
      [&](ChildSetup& setup) {
        Place({{a.write_end.get(), 3}, {b.write_end.get(), 4}});
        setup.AddFd(3, 4);
        setup.AddFd(4, 3);
      },
      [](const ChildSetupResult&) { return absl::StrCat(Identity(3), " ", Identity(4)); });
  EXPECT_EQ(outcome.report, absl::StrCat(b_id, " ", a_id));
}

// RLIMIT_NOFILE 10: strays are closed first to make room, the copies go
// just above the highest target (fd 4), not at some fixed high number,
// and the kept fd too.
TEST(ChildSetupTest, WorksUnderALowFdLimit) {
  Pipe a, b, kept;
  const std::string a_id = Identity(a.write_end), b_id = Identity(b.write_end);
  Outcome outcome = RunChild(
      [&](ChildSetup& setup) {
        // The kept fd sits on a target's number; 5 and 6 are strays that
        // must make room.
        Place({{a.write_end.get(), 7},
               {b.write_end.get(), 8},
               {kept.write_end.get(), 4},
               {a.read_end.get(), 5},
               {b.read_end.get(), 6}});
        rlimit low = {10, 10};
        setrlimit(RLIMIT_NOFILE, &low);
        setup.AddFd(7, 3);
        setup.AddFd(8, 4);
        setup.keep_fd = 4;
      },
      [](const ChildSetupResult& result) {
        (void)!write(result.keep_fd, "k", 1);
        return absl::StrCat(result.ok(), " ", Identity(3), " ", Identity(4), " ",
                            result.keep_fd > 4, " ", fcntl(result.keep_fd, F_GETFD) & FD_CLOEXEC);
      });
  EXPECT_EQ(outcome.report, absl::StrCat("1 ", a_id, " ", b_id, " 1 1"));
  kept.write_end.reset();
  EXPECT_EQ(ReadAll(kept.read_end.get()).value_or(""), "k") << "the kept fd still works";
}

TEST(ChildSetupTest, StdinBecomesDevNullUnlessItIsATarget) {
  Pipe a;
  const std::string a_id = Identity(a.read_end);
  Outcome outcome = RunChild([](ChildSetup& setup) { setup.stdin_from_dev_null = true; },
                             [](const ChildSetupResult&) { return Identity(0); });
  EXPECT_EQ(outcome.report, "null");
  outcome = RunChild(
      [&](ChildSetup& setup) {
        setup.stdin_from_dev_null = true;
        setup.AddFd(a.read_end.get(), 0);
      },
      [](const ChildSetupResult&) { return Identity(0); });
  EXPECT_EQ(outcome.report, a_id);
}

TEST(ChildSetupTest, DefaultDispositionsAndExactlyTheMaskAsked) {
  Outcome outcome = RunChild(
      [](ChildSetup& setup) {
        signal(SIGUSR1, [](int) {});
        signal(SIGINT, SIG_IGN);
        sigset_t blocked;
        sigemptyset(&blocked);
        sigaddset(&blocked, SIGUSR2);
        sigprocmask(SIG_BLOCK, &blocked, nullptr);
        setup.Block(SIGTERM);
        setup.Block(SIGHUP);
      },
      [](const ChildSetupResult&) {
        struct sigaction usr1, intr;
        sigaction(SIGUSR1, nullptr, &usr1);
        sigaction(SIGINT, nullptr, &intr);
        sigset_t mask;
        sigprocmask(SIG_SETMASK, nullptr, &mask);
        std::string blocked;
        for (int sig = 1; sig < NSIG; ++sig) {
          if (sigismember(&mask, sig) == 1) absl::StrAppend(&blocked, " ", sig);
        }
        return absl::StrCat(usr1.sa_handler == SIG_DFL, intr.sa_handler == SIG_DFL, blocked);
      });
  EXPECT_EQ(outcome.report, absl::StrCat("11 ", SIGHUP, " ", SIGTERM));
}

TEST(ChildSetupTest, LeadsAGroupASessionOrStaysWhereItIs) {
  auto where = [](ChildGroup group) {
    return RunChild([group](ChildSetup& setup) { setup.group = group; },
                    [](const ChildSetupResult&) {
                      return absl::StrCat(getpgrp() == getpid(), getsid(0) == getpid());
                    })
        .report;
  };
  EXPECT_EQ(where(ChildGroup::kNewProcessGroup), "10");
  EXPECT_EQ(where(ChildGroup::kNewSession), "11");
  EXPECT_EQ(where(ChildGroup::kInherit), "00");
}

TEST(ChildSetupTest, SetsTheParentDeathSignal) {
  Outcome outcome = RunChild([](ChildSetup& setup) { setup.parent_death_signal = SIGKILL; },
                             [](const ChildSetupResult&) {
                               int sig = 0;
                               prctl(PR_GET_PDEATHSIG, &sig);
                               return absl::StrCat(sig);
                             });
  EXPECT_EQ(outcome.report, absl::StrCat(SIGKILL));
}

// The parent died before prctl: nobody will send the signal, so the child
// leaves at once, as if it had come.
TEST(ChildSetupTest, AChildWhoseParentIsAlreadyGoneLeaves) {
  Outcome outcome = RunChild(
      [](ChildSetup& setup) {
        setup.parent_death_signal = SIGTERM;
        setup.parent = 1;  // not our parent: as after its death
      },
      [](const ChildSetupResult&) { return std::string("ran"); });
  EXPECT_EQ(outcome.exit_code(), 128 + SIGTERM);
  EXPECT_EQ(outcome.report, "");
}

TEST(ChildSetupTest, WaitsForTheGoAndLeavesWithoutOne) {
  Pipe go;
  ASSERT_EQ(write(go.write_end.get(), "g", 1), 1);
  Outcome outcome =
      RunChild([&](ChildSetup& setup) { setup.go_fd = go.read_end.get(); },
               [](const ChildSetupResult& result) { return absl::StrCat(result.ok()); });
  EXPECT_EQ(outcome.report, "1");

  Pipe never;
  never.write_end.reset();  // the supervisor gave up on this child
  outcome = RunChild([&](ChildSetup& setup) { setup.go_fd = never.read_end.get(); },
                     [](const ChildSetupResult&) { return std::string("ran"); });
  EXPECT_EQ(outcome.exit_code(), 127);
  EXPECT_EQ(outcome.report, "");
}

// A cgroup that cannot be joined (here a plain directory) is reported
// once the fds are installed, so the child's own stderr can say so.
TEST(ChildSetupTest, ACgroupThatCannotBeJoinedIsReportedAfterTheFds) {
  TempDir not_a_cgroup;
  UniqueFd dir(open(not_a_cgroup.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(dir);
  Pipe err;
  const std::string err_id = Identity(err.write_end);
  Outcome outcome = RunChild(
      [&](ChildSetup& setup) {
        setup.join_cgroup_fd = dir.get();
        setup.AddFd(err.write_end.get(), 2);
      },
      [](const ChildSetupResult& result) {
        return absl::StrCat(result.failed == ChildSetupResult::Step::kCgroup, " ", result.what(),
                            " ", result.error, " ", Identity(2));
      });
  EXPECT_EQ(outcome.report, absl::StrCat("1 join its cgroup ", ENOENT, " ", err_id));
}

// With clone_parent the child is its maker's parent's: a middle process
// makes it, and it is ours to reap.
TEST(ForkChildTest, CloneParentMakesTheCallersParentsChild) {
  Pipe pids;
  pid_t middle = fork();
  if (middle == 0) {
    bool try_clone3 = true, join = true;
    pid_t child = ForkChild(/*clone_parent=*/true, -1, try_clone3, join);
    if (child == 0) _exit(7);
    const std::string said = absl::StrCat(child, " ", join);
    (void)!write(pids.write_end.get(), said.data(), said.size());
    _exit(child > 0 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(middle, &status, 0), middle);
  pids.write_end.reset();
  const std::string said = ReadAll(pids.read_end.get()).value_or("");
  pid_t child = 0;
  ASSERT_EQ(sscanf(said.c_str(), "%d", &child), 1) << said;
  EXPECT_EQ(said, absl::StrCat(child, " 0")) << "no cgroup: nothing to join";
  ASSERT_EQ(waitpid(child, &status, 0), child) << "our child, not the middle's";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 7);
}

}  // namespace
}  // namespace appkit
