// Spawn and SpawnDetached with real processes (/bin/sh, /usr/bin/env).
#include "common/process/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/base/fd_io.h"
#include "common/base/unique_fd.h"
#include "gtest/gtest.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using appkit::testing::ProcessAlive;
using appkit::testing::TempDir;
using appkit::testing::WaitFor;
using appkit::testing::WaitForExit;

std::vector<std::string> Fields(const std::string& path) {
  std::string text = testing::ReadFileOrEmpty(path);
  return absl::StrSplit(absl::StripTrailingAsciiWhitespace(text), ' ', absl::SkipEmpty());
}

// What the child of `options` prints on its stdout ("" on failure).
std::string OutputOfChild(SpawnOptions options) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return "";
  UniqueFd read_end(out[0]), write_end(out[1]);
  options.fds = {{write_end.get(), 1}};
  absl::StatusOr<pid_t> pid = Spawn(options);
  if (!pid.ok()) return "";
  write_end.reset();
  absl::StatusOr<std::string> text = ReadAll(read_end.get());
  WaitForExit(*pid);
  return text.ok() ? *text : "";
}

// What /usr/bin/env prints when spawned with `extra_env`.
std::string EnvironmentOfChild(const std::vector<std::string>& extra_env) {
  SpawnOptions options;
  options.argv = {"/usr/bin/env"};
  options.extra_env = extra_env;
  return OutputOfChild(options);
}

// What `sh -c script` prints when spawned with `options`.
std::string OutputOfShell(SpawnOptions options, const std::string& script) {
  options.argv = {"/bin/sh", "-c", script};
  return OutputOfChild(std::move(options));
}

TEST(SpawnTest, ExtraEnvReplacesAnInheritedVariable) {
  setenv("APPKIT_SPAWN_TEST_VAR", "inherited", 1);
  std::string env = EnvironmentOfChild({"APPKIT_SPAWN_TEST_VAR=extra"});
  unsetenv("APPKIT_SPAWN_TEST_VAR");
  ASSERT_FALSE(env.empty());
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(env, '\n')) {
    if (absl::StartsWith(line, "APPKIT_SPAWN_TEST_VAR=")) lines.emplace_back(line);
  }
  EXPECT_EQ(lines, std::vector<std::string>{"APPKIT_SPAWN_TEST_VAR=extra"});
}

TEST(SpawnTest, ExtraEnvEntryWithoutEqualsSignReplacesNothing) {
  setenv("APPKIT_SPAWN_TEST_KEPT", "kept", 1);
  std::string env = EnvironmentOfChild({"MALFORMED"});
  unsetenv("APPKIT_SPAWN_TEST_KEPT");
  EXPECT_NE(env.find("APPKIT_SPAWN_TEST_KEPT=kept"), std::string::npos) << env;
}

TEST(SpawnTest, MissingBinaryIsAnErrorNotAChildThatExits127) {
  SpawnOptions options;
  options.argv = {"/nonexistent/appkit-binary"};
  absl::StatusOr<pid_t> pid = Spawn(options);
  ASSERT_FALSE(pid.ok());
  EXPECT_NE(pid.status().message().find("/nonexistent/appkit-binary"), std::string::npos);
}

void CountUsr1(int) {}

// The child shares the caller's memory until its exec (CLONE_VM |
// CLONE_VFORK) instead of a fork()'s copy: writing 16 MB of the caller's
// memory again after a Spawn takes no copy-on-write fault (after a fork,
// each of its 4096 pages would take one, even once the child exec'd). And
// what the child changes before its exec stays its own: its handlers reset
// to SIG_DFL, its fds closed (the caller's signal handlers and fds are
// intact).
TEST(SpawnTest, TheChildSharesTheCallersMemoryUntilItsExecAndNothingElse) {
  constexpr size_t kSize = 16 << 20;
  void* memory = mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(memory, MAP_FAILED);
  madvise(memory, kSize, MADV_NOHUGEPAGE);  // one fault per 4 KB page, as counted below
  memset(memory, 1, kSize);
  struct sigaction usr1 = {}, old_usr1 = {};
  usr1.sa_handler = CountUsr1;
  ASSERT_EQ(sigaction(SIGUSR1, &usr1, &old_usr1), 0);
  int pipe_ends[2];
  ASSERT_EQ(pipe2(pipe_ends, O_CLOEXEC), 0);
  UniqueFd kept_read(pipe_ends[0]), kept_write(pipe_ends[1]);

  rusage before = {}, after = {};
  getrusage(RUSAGE_SELF, &before);
  SpawnOptions options;
  options.argv = {"/bin/true"};
  absl::StatusOr<pid_t> pid = Spawn(options);
  ASSERT_TRUE(pid.ok()) << pid.status();
  for (size_t offset = 0; offset < kSize; offset += 4096) static_cast<char*>(memory)[offset] = 2;
  getrusage(RUSAGE_SELF, &after);
  EXPECT_LT(after.ru_minflt - before.ru_minflt, 1024)
      << "page faults after the Spawn: the caller's 4096 written pages were copied";
  EXPECT_TRUE(WaitForExit(*pid));

  struct sigaction now = {};
  ASSERT_EQ(sigaction(SIGUSR1, &old_usr1, &now), 0);
  EXPECT_EQ(now.sa_handler, &CountUsr1) << "the child's SIG_DFL reached the caller";
  EXPECT_EQ(write(kept_write.get(), "x", 1), 1) << "the child's closing of fds reached the caller";
  munmap(memory, kSize);
}

TEST(SpawnTest, TheChildRunsInItsWorkingDirectory) {
  TempDir dir;
  SpawnOptions options;
  options.working_directory = dir.path();
  char here[4096];
  ASSERT_NE(getcwd(here, sizeof(here)), nullptr);
  char* real = realpath(dir.path().c_str(), nullptr);
  ASSERT_NE(real, nullptr);
  const std::string expected = std::string(real) + "\n";
  free(real);
  EXPECT_EQ(OutputOfShell(options, "pwd -P"), expected);
  char still[4096];
  ASSERT_NE(getcwd(still, sizeof(still)), nullptr);
  EXPECT_STREQ(here, still) << "the parent's own directory changed";
}

TEST(SpawnTest, AMissingWorkingDirectoryIsSpawnsErrorAndNoChildIsLeft) {
  TempDir dir;
  while (waitpid(-1, nullptr, WNOHANG) > 0) {  // earlier tests' exited children
  }
  SpawnOptions options;
  options.argv = {"/bin/true"};
  options.working_directory = dir.File("gone");
  absl::StatusOr<pid_t> pid = Spawn(options);
  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.status().code(), absl::StatusCode::kNotFound) << pid.status();
  EXPECT_NE(pid.status().message().find("/bin/true"), std::string::npos) << pid.status();
  errno = 0;
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1) << "a child is left to reap";
  EXPECT_EQ(errno, ECHILD);
}

TEST(SpawnTest, TheChildGetsTheSoftFdLimitItIsGiven) {
  rlimit limit = {};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_max < 64) GTEST_SKIP() << "hard fd limit " << limit.rlim_max;
  SpawnOptions options;
  options.fd_soft_limit = 64;
  EXPECT_EQ(OutputOfShell(options, "ulimit -Sn"), "64\n");
  options.fd_soft_limit = 0;  // as inherited
  EXPECT_EQ(OutputOfShell(options, "ulimit -Sn"), std::to_string(limit.rlim_cur) + "\n");
  options.fd_soft_limit = static_cast<unsigned long>(limit.rlim_max) + 1;  // capped
  if (limit.rlim_max != RLIM_INFINITY) {
    EXPECT_EQ(OutputOfShell(options, "ulimit -Sn"), std::to_string(limit.rlim_max) + "\n");
  }
}

// The daemon starts its companion as its own child just before its exec:
// each learns the other's pid, the companion leads its own group, gets
// exactly the fds it was given, and dies with the daemon.
TEST(SpawnTest, DetachedDaemonStartsItsCompanion) {
  TempDir dir;
  const std::string daemon_file = dir.File("daemon.txt");
  const std::string companion_file = dir.File("companion.txt");
  UniqueFd companion_out(open(companion_file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  ASSERT_TRUE(companion_out);
  // Not close-on-exec: must not leak. High, away from the fds the shell
  // below opens for a moment for its $(...) (3, 4, ...).
  UniqueFd stray_low(open("/dev/null", O_RDONLY | O_CLOEXEC));
  UniqueFd stray(fcntl(stray_low.get(), F_DUPFD, 50));
  ASSERT_TRUE(stray);

  SpawnOptions daemon;
  daemon.argv = {"/bin/sh", "-c",
                 "echo $$ $COMPANION_PID > " + daemon_file + ".tmp && mv " + daemon_file + ".tmp " +
                     daemon_file + " && exec sleep 30"};
  Companion companion;
  companion.options.argv = {"/bin/sh", "-c",
                            "echo $PPID $DAEMON_PID $(cut -d' ' -f5 /proc/$$/stat) $$ "
                            "$(ls /proc/$$/fd | tr '\\n' ' ') && exec sleep 30"};
  companion.options.fds = {{companion_out.get(), 1}};
  companion.options.parent_death_signal = SIGKILL;
  companion.pid_env = "COMPANION_PID";
  companion.parent_pid_env = "DAEMON_PID";
  ASSERT_TRUE(SpawnDetached(daemon, &companion).ok());

  ASSERT_TRUE(WaitFor([&] { return Fields(daemon_file).size() == 2; }));
  ASSERT_TRUE(WaitFor([&] { return Fields(companion_file).size() >= 4; }));
  std::vector<std::string> d = Fields(daemon_file);
  std::vector<std::string> c = Fields(companion_file);
  pid_t daemon_pid = 0, companion_pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(d[0], &daemon_pid));
  ASSERT_TRUE(absl::SimpleAtoi(d[1], &companion_pid)) << d[1];
  EXPECT_EQ(c[0], d[0]) << "the companion is the daemon's child";
  pid_t told_daemon = 0;
  ASSERT_TRUE(absl::SimpleAtoi(c[1], &told_daemon));
  EXPECT_EQ(told_daemon, daemon_pid) << "the companion was told its daemon's pid";
  EXPECT_EQ(c[2], c[3]) << "the companion leads its own process group";
  EXPECT_EQ(std::to_string(companion_pid), c[3]) << "the daemon was told its companion's pid";
  // fds of the companion's shell: 0, 1, 2 only (plus what sh itself opens
  // for the $(...) pipe, above 9 in dash, or 3+ while the subshell runs).
  std::vector<std::string> fds(c.begin() + 4, c.end());
  EXPECT_EQ(fds.front(), "0");
  for (const std::string& fd : fds) {
    int n = 0;
    ASSERT_TRUE(absl::SimpleAtoi(fd, &n));
    EXPECT_NE(n, stray.get()) << "a stray fd leaked into the companion";
  }

  // The companion dies with its daemon.
  kill(daemon_pid, SIGKILL);
  EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(companion_pid); }, absl::Seconds(5)));
  EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(daemon_pid); }, absl::Seconds(5)));
}

// A companion that cannot exec is not the caller's error: the daemon
// starts, and finds its companion gone.
TEST(SpawnTest, CompanionThatCannotStartLeavesTheDaemonRunning) {
  TempDir dir;
  const std::string daemon_file = dir.File("daemon.txt");
  SpawnOptions daemon;
  daemon.argv = {"/bin/sh", "-c",
                 "echo $$ $COMPANION_PID > " + daemon_file + ".tmp && mv " + daemon_file + ".tmp " +
                     daemon_file + " && exec sleep 30"};
  Companion companion;
  companion.options.argv = {"/nonexistent/companion"};
  companion.options.parent_death_signal = SIGKILL;
  companion.pid_env = "COMPANION_PID";
  companion.parent_pid_env = "DAEMON_PID";
  ASSERT_TRUE(SpawnDetached(daemon, &companion).ok());
  ASSERT_TRUE(WaitFor([&] { return Fields(daemon_file).size() == 2; }));
  std::vector<std::string> d = Fields(daemon_file);
  pid_t daemon_pid = 0, companion_pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(d[0], &daemon_pid));
  ASSERT_TRUE(absl::SimpleAtoi(d[1], &companion_pid));
  EXPECT_GT(companion_pid, 0);
  // Exited with 127 (a zombie of the daemon's until it reaps).
  std::string stat = testing::ReadFileOrEmpty("/proc/" + std::to_string(companion_pid) + "/stat");
  EXPECT_TRUE(stat.empty() || stat.find(") Z ") != std::string::npos) << stat;
  kill(daemon_pid, SIGKILL);
  EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(daemon_pid); }, absl::Seconds(5)));
}

// With `exec_error_env`, the daemon is told for certain whether its
// companion exec'd (0) or why not (a companion that failed is then
// already exiting, nothing to wait for but its reaping).
TEST(SpawnTest, TheDaemonIsToldWhetherItsCompanionExecd) {
  for (const bool broken : {false, true}) {
    TempDir dir;
    const std::string daemon_file = dir.File("daemon.txt");
    SpawnOptions daemon;
    daemon.argv = {"/bin/sh", "-c",
                   "echo $$ $COMPANION_PID $COMPANION_EXEC_ERROR > " + daemon_file + ".tmp && mv " +
                       daemon_file + ".tmp " + daemon_file + " && exec sleep 30"};
    Companion companion;
    companion.options.argv = {broken ? "/nonexistent/companion" : "/bin/sleep", "30"};
    companion.options.parent_death_signal = SIGKILL;
    companion.pid_env = "COMPANION_PID";
    companion.parent_pid_env = "DAEMON_PID";
    companion.exec_error_env = "COMPANION_EXEC_ERROR";
    ASSERT_TRUE(SpawnDetached(daemon, &companion).ok());
    ASSERT_TRUE(WaitFor([&] { return Fields(daemon_file).size() == 3; })) << broken;
    std::vector<std::string> d = Fields(daemon_file);
    pid_t daemon_pid = 0, companion_pid = 0;
    int exec_errno = -1;
    ASSERT_TRUE(absl::SimpleAtoi(d[0], &daemon_pid));
    ASSERT_TRUE(absl::SimpleAtoi(d[1], &companion_pid));
    ASSERT_TRUE(absl::SimpleAtoi(d[2], &exec_errno)) << d[2];
    EXPECT_GT(companion_pid, 0);
    EXPECT_EQ(exec_errno, broken ? ENOENT : 0);
    kill(daemon_pid, SIGKILL);
    EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(daemon_pid); }, absl::Seconds(5)));
    EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(companion_pid); }, absl::Seconds(5)));
  }
}

TEST(SpawnTest, ACompanionWithoutItsPidVariablesIsRefused) {
  SpawnOptions daemon;
  daemon.argv = {"/bin/true"};
  Companion companion;
  companion.options.argv = {"/bin/true"};
  EXPECT_EQ(SpawnDetached(daemon, &companion).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace appkit
