// The attack suite (issue 11): what another user on the machine, or an
// unlucky operator, can try against appkit running as root in shared
// directories, one test per attack. The attacker is the user `nobody`
// (testing/as_user.h); tests that need root skip when not root. Every test
// starts the real binaries, checks that the attack changed nothing it
// must not (a root-owned "victim" file keeps its bytes and mode, bystander
// processes live), and leaves nothing behind.
//
// Read the test names as the list of attacks:
//   Pid files: items 1 and 2 of the issue
//   Planted files at every output path: item 2
//   Reopening after logrotate: items 3 and 4
//   Directories of others: item 6
//   Disk full: item 13
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/appkit.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/as_user.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::CommandResult;
using ::appkit::testing::FileExists;
using ::appkit::testing::kNobody;
using ::appkit::testing::PidOfEvent;
using ::appkit::testing::ProcessAlive;
using ::appkit::testing::ReadFileOrEmpty;
using ::appkit::testing::RunAs;
using ::appkit::testing::UserProcess;
using ::appkit::testing::WaitFor;
using ::appkit::testing::WaitForExit;
using ::testing::HasSubstr;
using Json = nlohmann::json;

#define SKIP_UNLESS_ROOT() \
  if (geteuid() != 0) GTEST_SKIP() << "needs root: the attacker is another user"

std::string Module() { return testing::RunfilePath("testing/libtest_module.so"); }
std::string Appkitctl() { return testing::RunfilePath("client/appkitctl"); }

CommandResult Ctl(std::vector<std::string> args) {
  args.insert(args.begin(), Appkitctl());
  return testing::RunCommand(args, absl::Seconds(20));
}

// Runs `body` in a forked child and returns what it returned, or nullopt
// when it did not finish within `timeout` (it hung: it is killed).
std::optional<std::string> InChild(const std::function<std::string()>& body,
                                   absl::Duration timeout = absl::Seconds(10)) {
  int out[2];
  if (pipe(out) != 0) return std::nullopt;
  pid_t pid = fork();
  if (pid == 0) {
    close(out[0]);
    const std::string result = body();
    (void)!write(out[1], result.data(), result.size());
    _exit(0);
  }
  close(out[1]);
  const bool finished = WaitForExit(pid, timeout);
  if (!finished) kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  std::string result;
  char buf[4096];
  for (ssize_t n; (n = read(out[0], buf, sizeof(buf))) > 0;) result.append(buf, n);
  close(out[0]);
  if (!finished) return std::nullopt;
  return result;
}

std::string Describe(const DaemonStartResult& result) {
  switch (result.status) {
    case DaemonRunStatus::kLaunched:
      return absl::StrCat("launched ", result.pid.value_or(0));
    case DaemonRunStatus::kAlreadyRunning:
      return absl::StrCat("already running ", result.pid.value_or(0));
    case DaemonRunStatus::kLaunchFailed:
      return "failed: " + result.error;
  }
  return "?";
}

class FileAttackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    victim_ = File("victim");
    std::ofstream(victim_) << "precious\n";
    chmod(victim_.c_str(), 0600);
  }

  void TearDown() override {
    for (pid_t pid : guardians_) {
      if (ProcessAlive(pid)) {
        kill(pid, SIGTERM);
        WaitForExit(pid, absl::Seconds(15));
      }
    }
  }

  std::string File(const std::string& name) const { return dir_.File(name); }

  // The root-owned file an attack aims at keeps its bytes and its mode.
  void ExpectVictimIntact() {
    EXPECT_EQ(ReadFileOrEmpty(victim_), "precious\n");
    struct stat st;
    ASSERT_EQ(stat(victim_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_EQ(st.st_uid, geteuid());
  }

  // Lets nobody reach the test directory (it is 0700).
  void OpenForNobody() { chmod(dir_.path().c_str(), 0755); }

  // A daemon whose files live in `sub`/ (created 0755).
  DaemonOptions Daemon(const std::string& sub, const std::string& function) {
    std::filesystem::create_directories(File(sub));
    DaemonOptions options;
    options.pid_filename = File(sub + "/d.pid");
    options.daemon_entry = Module() + ":" + function;
    options.daemon_args.Set("events", File(sub + "/events"));
    options.stdout_filename = File(sub + "/out.txt");
    options.stderr_filename = File(sub + "/err.txt");
    options.logging_config = *LoggingConfigFromJson(R"({"handlers": [{"file": {"filename": ")" +
                                                    File(sub + "/app.log") + R"("}}]})");
    return options;
  }

  // A daemon running a pool of two workers (run_until_quit) in `sub`/.
  DaemonOptions PoolDaemon(const std::string& sub) {
    DaemonOptions options = Daemon(sub, "run_workers");
    Json pool = {{"events", File(sub + "/events")},
                 {"restart_interval_ms", 10},
                 {"debug_filename", File(sub + "/debug.json")},
                 {"workers", Json::array()}};
    for (const char* name : {"w1", "w2"}) {
      pool["workers"].push_back({{"name", name},
                                 {"entry", Module() + ":run_until_quit"},
                                 {"pid_filename", File(sub + "/" + name + ".pid")},
                                 {"stdout_filename", File(sub + "/" + name + ".out")},
                                 {"args", {{"events", File(sub + "/" + name + ".events")}}}});
    }
    options.daemon_args = *Args::FromJson(pool.dump());
    return options;
  }

  pid_t Launch(const DaemonOptions& options) {
    DaemonStartResult result = StartDaemon(options);
    EXPECT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
    if (!result.pid) return 0;
    guardians_.push_back(*result.pid);
    reaper_.Track(*result.pid);
    return *result.pid;
  }

  // StartDaemon in a child process, bounded: a start that blocks on a
  // planted FIFO shows up as nullopt instead of hanging the suite.
  std::optional<std::string> StartBounded(const DaemonOptions& options) {
    return InChild([&] { return Describe(StartDaemon(options)); });
  }

  void Stop(pid_t guardian) {
    kill(guardian, SIGTERM);
    EXPECT_TRUE(WaitForExit(guardian, absl::Seconds(15)));
  }

  testing::TempDir dir_;
  testing::ProcessReaper reaper_;
  std::vector<pid_t> guardians_;
  std::string victim_;
};

// ===========================================================================
// Pid files (items 1, 2): a pid read from a file is never trusted.

// Attack: nobody holds an open-file-description lock on a stale root pid
// file. The kernel reports its holder as pid -1, and `kill(-1, SIGTERM)`
// as root kills every process. Run inside a PID namespace so that a
// regression kills only the namespace (and the bystander shows it).
TEST_F(FileAttackTest, StopNeverSignalsThePidOfAnOpenFileDescriptionLock) {
  SKIP_UNLESS_ROOT();
  OpenForNobody();
  const std::string pid_file = File("d.pid");
  std::ofstream(pid_file) << "4242\n";
  chmod(pid_file.c_str(), 0644);
  UserProcess locker(kNobody, [&] {
    int fd = open(pid_file.c_str(), O_RDONLY);
    struct flock lock = {};
    lock.l_type = F_RDLCK;
    lock.l_whence = SEEK_SET;
    return fd >= 0 && fcntl(fd, F_OFD_SETLK, &lock) == 0 ? 0 : 1;
  });
  ASSERT_TRUE(locker.ok());

  const std::string script =
      absl::StrCat("sleep 60 & bystander=$!; ", Appkitctl(), " stop --pid-file ", pid_file,
                   "; echo rc=$?; kill -0 $bystander && echo bystander-alive; kill $bystander");
  CommandResult stop =
      testing::RunCommand({"/usr/bin/unshare", "--pid", "--fork", "/bin/sh", "-c", script});
  EXPECT_THAT(stop.out, HasSubstr("rc=1")) << stop.out << stop.err;
  EXPECT_THAT(stop.out, HasSubstr("bystander-alive")) << stop.out << stop.err;
  EXPECT_THAT(stop.err, HasSubstr("held by something else")) << stop.err;
  EXPECT_THAT(stop.err, HasSubstr("nothing was signalled")) << stop.err;

  CommandResult status = Ctl({"status", "--pid-file", pid_file});
  EXPECT_EQ(status.exit_code, 1) << status.err;
  EXPECT_THAT(status.err, HasSubstr("open file description lock")) << status.err;

  DaemonOptions same = Daemon("sub", "run_until_quit");
  same.pid_filename = pid_file;
  DaemonStartResult result = StartDaemon(same);
  EXPECT_EQ(result.status, DaemonRunStatus::kLaunchFailed) << Describe(result);
  EXPECT_FALSE(result.pid.has_value());
  EXPECT_THAT(result.error, HasSubstr("held by something else"));
  EXPECT_TRUE(ProcessAlive(locker.pid()));
}

// Attack: a process that is not an appkit guardian holds the pid file's
// lock and names itself in it (a squatter). It is reported, never
// signalled, and a start refuses to go on.
TEST_F(FileAttackTest, APidFileHeldByAnotherProgramIsNeverSignalled) {
  const std::string pid_file = File("d.pid");
  UserProcess squatter({geteuid(), getegid()}, [&] {
    int fd = open(pid_file.c_str(), O_RDWR | O_CREAT, 0644);
    const std::string me = absl::StrCat(getpid(), "\n");
    struct flock lock = {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    return fd >= 0 && write(fd, me.data(), me.size()) == static_cast<ssize_t>(me.size()) &&
                   fcntl(fd, F_SETLK, &lock) == 0
               ? 0
               : 1;
  });
  ASSERT_TRUE(squatter.ok());
  CommandResult stop = Ctl({"stop", "--pid-file", pid_file, "--timeout", "1s"});
  EXPECT_EQ(stop.exit_code, 1) << stop.out << stop.err;
  EXPECT_THAT(stop.err, HasSubstr("not the appkit guardian")) << stop.err;
  EXPECT_TRUE(ProcessAlive(squatter.pid()));

  DaemonOptions options = Daemon("sub", "run_until_quit");
  options.pid_filename = pid_file;
  DaemonStartResult result = StartDaemon(options);
  EXPECT_EQ(result.status, DaemonRunStatus::kLaunchFailed) << Describe(result);
  EXPECT_THAT(result.error, HasSubstr(pid_file));
  EXPECT_TRUE(ProcessAlive(squatter.pid()));
}

// Attack: a stale pid file naming init (1), everything (-1) or 0. Nothing
// holds it: it is garbage, replaced by the next start, never a pid.
TEST_F(FileAttackTest, PidFilesNamingInitOrEverythingAreStaleNeverPids) {
  for (const char* content : {"1\n", "0\n", "-1\n"}) {
    SCOPED_TRACE(content);
    DaemonOptions options = Daemon("sub", "run_until_quit");
    std::ofstream(options.pid_filename) << content;
    CommandResult status = Ctl({"status", "--pid-file", options.pid_filename});
    EXPECT_EQ(status.exit_code, 3) << status.err;
    EXPECT_THAT(status.err, HasSubstr("stale pid file")) << status.err;
    CommandResult stop = Ctl({"stop", "--pid-file", options.pid_filename});
    EXPECT_EQ(stop.exit_code, 0) << stop.err;
    EXPECT_THAT(stop.out, HasSubstr("not running")) << stop.out;
    pid_t guardian = Launch(options);
    ASSERT_GT(guardian, 0);
    EXPECT_EQ(ReadFileOrEmpty(options.pid_filename), absl::StrCat(guardian, "\n"));
    Stop(guardian);
  }
}

// Attack: the control socket of a running daemon is replaced by a socket
// somebody else listens on (say, to collect RequestQuit calls or to feed
// appkitctl false answers). appkitctl checks who listens (SO_PEERCRED)
// and never talks to it; stop falls back to the verified guardian's pid.
TEST_F(FileAttackTest, ASocketServedByAnotherProcessIsNeverSpokenTo) {
  DaemonOptions options = Daemon("sub", "run_until_quit");
  pid_t guardian = Launch(options);
  ASSERT_GT(guardian, 0);
  const std::string socket_path = options.pid_filename + ".sock";
  ASSERT_EQ(rename(socket_path.c_str(), (socket_path + ".moved").c_str()), 0);
  int impostor = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", socket_path.c_str());
  ASSERT_EQ(bind(impostor, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(impostor, 8), 0);

  CommandResult status = Ctl({"status", "--pid-file", options.pid_filename});
  EXPECT_EQ(status.exit_code, 1);
  EXPECT_THAT(status.err,
              HasSubstr(absl::StrCat("is served by process ", getpid(), ", not by ", guardian)))
      << status.err;
  CommandResult stop = Ctl({"stop", "--pid-file", options.pid_filename});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_THAT(stop.err, HasSubstr("sending SIGTERM to guardian")) << stop.err;
  EXPECT_TRUE(WaitForExit(guardian, absl::Seconds(5)));
  close(impostor);
}

// ===========================================================================
// Planted files at every path appkit writes (item 2).

struct PlantedPath {
  const char* option;
  std::function<std::string(const DaemonOptions&)> path;
};

std::vector<PlantedPath> OutputPaths() {
  return {
      {"pid file", [](const DaemonOptions& o) { return o.pid_filename; }},
      {"stdout_filename", [](const DaemonOptions& o) { return o.stdout_filename; }},
      {"stderr_filename", [](const DaemonOptions& o) { return o.stderr_filename; }},
      {"log file",
       [](const DaemonOptions& o) { return o.logging_config->handlers(0).file().filename(); }},
  };
}

// Attack: a symlink to a root-owned file (or a dangling one, to make root
// create a file where it points) at the pid file, stdout, stderr or log
// path. The start fails naming the path; the target keeps its bytes and
// mode; nothing is created through the link; no process is left.
TEST_F(FileAttackTest, SymlinksPlantedAtEveryOutputPathAreRefusedNeverFollowed) {
  for (const PlantedPath& planted : OutputPaths()) {
    for (bool dangling : {false, true}) {
      SCOPED_TRACE(absl::StrCat(planted.option, dangling ? " (dangling)" : ""));
      std::filesystem::remove_all(File("sub"));
      DaemonOptions options = Daemon("sub", "run_until_quit");
      const std::string path = planted.path(options);
      const std::string target = dangling ? File("created-through-link") : victim_;
      ASSERT_EQ(symlink(target.c_str(), path.c_str()), 0);
      std::optional<std::string> result = StartBounded(options);
      ASSERT_TRUE(result.has_value()) << "StartDaemon hung";
      EXPECT_THAT(*result, HasSubstr("failed: "));
      EXPECT_THAT(*result, HasSubstr(path + " is a symbolic link"));
      EXPECT_FALSE(FileExists(File("created-through-link")));
      EXPECT_FALSE(FileExists(File("sub/events")));  // no entry ran
      ExpectVictimIntact();
    }
  }
}

// Attack: a FIFO at the pid file, stdout, stderr or log path: an open
// that blocks would hang StartDaemon (and `status`/`stop`) forever, and a
// log FIFO hands the daemon's log to whoever reads it. Refused at once.
TEST_F(FileAttackTest, FifosPlantedAtEveryPathAreRefusedWithoutBlocking) {
  for (const PlantedPath& planted : OutputPaths()) {
    SCOPED_TRACE(planted.option);
    std::filesystem::remove_all(File("sub"));
    DaemonOptions options = Daemon("sub", "run_until_quit");
    const std::string path = planted.path(options);
    ASSERT_EQ(mkfifo(path.c_str(), 0666), 0);
    std::optional<std::string> result = StartBounded(options);
    ASSERT_TRUE(result.has_value()) << "StartDaemon blocked on the FIFO at " << path;
    EXPECT_THAT(*result, HasSubstr("failed: "));
    EXPECT_THAT(*result, HasSubstr(path));
    EXPECT_THAT(*result, HasSubstr("FIFO"));
  }
  // The CLI, reading a pid file that is a FIFO, neither blocks nor guesses.
  std::filesystem::remove_all(File("sub"));
  DaemonOptions options = Daemon("sub", "run_until_quit");
  ASSERT_EQ(mkfifo(options.pid_filename.c_str(), 0666), 0);
  for (const char* command : {"status", "stop"}) {
    CommandResult result = Ctl({command, "--pid-file", options.pid_filename});
    EXPECT_EQ(result.exit_code, 1) << command << ": " << result.out << result.err;
    EXPECT_THAT(result.err, HasSubstr(options.pid_filename + " is a FIFO")) << result.err;
  }
}

// Attack: a hard link to a root-owned file at the log path (possible
// where fs.protected_hardlinks=0): appending would write into the target.
TEST_F(FileAttackTest, HardLinkPlantedAtTheLogIsRefused) {
  DaemonOptions options = Daemon("sub", "run_until_quit");
  const std::string log = options.logging_config->handlers(0).file().filename();
  ASSERT_EQ(link(victim_.c_str(), log.c_str()), 0);
  DaemonStartResult result = StartDaemon(options);
  EXPECT_EQ(result.status, DaemonRunStatus::kLaunchFailed);
  EXPECT_THAT(result.error, HasSubstr(log + " has 2 hard links"));
  ExpectVictimIntact();
}

// Attack: the debug file's temporary used to be `<debug>.tmp.<pid>`, a
// name anyone could predict and plant a symlink at (root then truncated
// the target). Plant symlinks at every such name for the pool's pids, and
// at the debug file itself: the debug file keeps being written, through
// nothing planted.
TEST_F(FileAttackTest, DebugFileWritesNeverFollowPlantedNames) {
  DaemonOptions options = PoolDaemon("pool");
  pid_t guardian = Launch(options);
  ASSERT_GT(guardian, 0);
  ASSERT_TRUE(WaitFor([&] { return PidOfEvent(File("pool/w1.events"), "started") != 0; }));
  const pid_t executor = PidOfEvent(File("pool/events"), "pool_starting");
  const std::string debug = File("pool/debug.json");
  for (pid_t pid = executor - 5; pid < executor + 50; ++pid) {
    symlink(victim_.c_str(), absl::StrCat(debug, ".tmp.", pid).c_str());
  }
  const pid_t w1 = PidOfEvent(File("pool/w1.events"), "started");
  reaper_.Track(w1);
  kill(w1, SIGKILL);
  ASSERT_TRUE(WaitFor([&] {
    Json info = Json::parse(ReadFileOrEmpty(debug), nullptr, false);
    return !info.is_discarded() && !info["worker_info_list"][0]["history"].empty();
  })) << ReadFileOrEmpty(debug);
  ExpectVictimIntact();

  // Now the debug file itself becomes a symlink: the next write refuses
  // it (and says so in the log) instead of replacing the victim's link.
  ASSERT_EQ(unlink(debug.c_str()), 0);
  ASSERT_EQ(symlink(victim_.c_str(), debug.c_str()), 0);
  // (w2 may start after w1's restart on a loaded machine: until its
  // "started" line exists its pid reads 0, and kill(0, ...) would hit
  // this test's own process group.)
  ASSERT_TRUE(WaitFor([&] { return PidOfEvent(File("pool/w2.events"), "started") != 0; }));
  const pid_t w2 = PidOfEvent(File("pool/w2.events"), "started");
  reaper_.Track(w2);
  kill(w2, SIGKILL);
  EXPECT_TRUE(WaitFor([&] {
    return absl::StrContains(ReadFileOrEmpty(File("pool/app.log")),
                             debug + " is a symbolic link: refused");
  })) << ReadFileOrEmpty(File("pool/app.log"));
  ExpectVictimIntact();
  Stop(guardian);
}

// Attack: a symlink planted at a worker's stdout after the pool started
// (it was checked then): the worker's next start refuses the path, the
// pool says why in its log and keeps running.
TEST_F(FileAttackTest, WorkerOutputPlantedAfterStartIsRefusedAtTheRestart) {
  DaemonOptions options = PoolDaemon("pool");
  pid_t guardian = Launch(options);
  ASSERT_GT(guardian, 0);
  ASSERT_TRUE(WaitFor([&] { return PidOfEvent(File("pool/w1.events"), "started") != 0; }));
  const std::string out = File("pool/w1.out");
  ASSERT_EQ(unlink(out.c_str()), 0);
  ASSERT_EQ(symlink(victim_.c_str(), out.c_str()), 0);
  const pid_t w1 = PidOfEvent(File("pool/w1.events"), "started");
  reaper_.Track(w1);
  kill(w1, SIGKILL);
  EXPECT_TRUE(WaitFor([&] {
    return absl::StrContains(ReadFileOrEmpty(File("pool/app.log")),
                             out + " is a symbolic link: refused");
  })) << ReadFileOrEmpty(File("pool/app.log"));
  ExpectVictimIntact();
  EXPECT_TRUE(ProcessAlive(guardian));
  Stop(guardian);
}

// ===========================================================================
// Reopening (items 3, 4): SIGHUP after logrotate is as safe as the first
// open, and never crashes a process that logs from many threads.

// Attack: after logrotate moved the files, a symlink to a root file is
// planted at the log's name and a FIFO at stdout's. SIGHUP: the guardian
// and the executor keep their old files (and say why), follow nothing,
// block on nothing, and keep answering.
TEST_F(FileAttackTest, SighupReopensOnlyWhatIsSafeAndKeepsTheOldFilesOtherwise) {
  DaemonOptions options = Daemon("sub", "run_until_quit");
  pid_t guardian = Launch(options);
  ASSERT_GT(guardian, 0);
  ASSERT_TRUE(WaitFor([&] { return PidOfEvent(File("sub/events"), "started") != 0; }));
  reaper_.Track(PidOfEvent(File("sub/events"), "started"));
  const std::string log = File("sub/app.log");
  ASSERT_EQ(rename(log.c_str(), (log + ".1").c_str()), 0);
  ASSERT_EQ(symlink(victim_.c_str(), log.c_str()), 0);
  ASSERT_EQ(rename(options.stdout_filename.c_str(), (options.stdout_filename + ".1").c_str()), 0);
  ASSERT_EQ(mkfifo(options.stdout_filename.c_str(), 0666), 0);
  kill(guardian, SIGHUP);
  // Both the guardian and the executor (SIGHUP passed on) say why.
  EXPECT_TRUE(WaitFor([&] {
    std::string text = ReadFileOrEmpty(log + ".1");
    size_t first = text.find("still writing to the old file");
    return first != std::string::npos &&
           text.find("still writing to the old file", first + 1) != std::string::npos;
  })) << ReadFileOrEmpty(log + ".1");
  CommandResult status = Ctl({"status", "--pid-file", options.pid_filename});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  ExpectVictimIntact();
  Stop(guardian);
}

// Attack (by an unlucky operator): logrotate with a SIGHUP storm while the
// entry logs flat out from four threads. 1000 SIGHUPs, the log renamed
// every 100: no process crashes (the executor never restarts) and every
// line logged is in one of the files.
TEST_F(FileAttackTest, ThousandSighupsUnderFourLoggingThreadsCrashNothingAndLoseNoLine) {
  DaemonOptions options = Daemon("sub", "log_flood");
  options.restart_interval = absl::Milliseconds(10);  // a crash would show as a restart
  pid_t guardian = Launch(options);
  ASSERT_GT(guardian, 0);
  ASSERT_TRUE(WaitFor([&] { return PidOfEvent(File("sub/events"), "started") != 0; }));
  const pid_t executor = PidOfEvent(File("sub/events"), "started");
  reaper_.Track(executor);
  const std::string log = File("sub/app.log");
  for (int i = 0; i < 1000; ++i) {
    if (i % 100 == 0) rename(log.c_str(), absl::StrCat(log, ".", i).c_str());
    kill(guardian, SIGHUP);
    absl::SleepFor(absl::Milliseconds(1));  // a rate, not a wait for a state
  }
  Stop(guardian);
  EXPECT_EQ(testing::LinesWithPrefix(File("sub/events"), "started ").size(), 1u)
      << "the executor crashed and was restarted";
  std::vector<std::string> logged = testing::LinesWithPrefix(File("sub/events"), "logged ");
  ASSERT_EQ(logged.size(), 1u);
  long expected = 0;
  ASSERT_TRUE(absl::SimpleAtoi(logged[0].substr(7, logged[0].rfind(' ') - 7), &expected));
  long found = 0;
  for (const auto& entry : std::filesystem::directory_iterator(File("sub"))) {
    if (!absl::StartsWith(entry.path().filename().string(), "app.log")) continue;
    std::ifstream in(entry.path());
    for (std::string line; std::getline(in, line);) found += absl::StrContains(line, "] flood ");
  }
  EXPECT_GT(expected, 1000);
  EXPECT_EQ(found, expected) << "lines lost across the reopens";
  EXPECT_FALSE(absl::StrContains(ReadFileOrEmpty(options.stderr_filename), "pure virtual"));
}

// ===========================================================================
// Directories of others (item 6).

// Attack: the pid file's directory belongs to nobody, who could delete
// the pid file and socket of a running daemon and get a second guardian
// started beside it. Refused up front, naming the directory.
TEST_F(FileAttackTest, DirectoryOwnedByAnotherUserIsRefused) {
  SKIP_UNLESS_ROOT();
  DaemonOptions options = Daemon("theirs", "run_until_quit");
  ASSERT_EQ(chown(File("theirs").c_str(), 65534, 65534), 0);
  DaemonStartResult result = StartDaemon(options);
  EXPECT_EQ(result.status, DaemonRunStatus::kLaunchFailed);
  EXPECT_THAT(result.error, HasSubstr(File("theirs") + " ("));
  EXPECT_THAT(result.error, HasSubstr("owned by uid 65534"));
  EXPECT_TRUE(std::filesystem::is_empty(File("theirs")));
}

// Attack: a world-writable directory without the sticky bit (anybody may
// rename or delete what is in it), for any of the daemon's files.
TEST_F(FileAttackTest, WorldWritableDirectoryWithoutStickyBitIsRefused) {
  for (const PlantedPath& planted : OutputPaths()) {
    SCOPED_TRACE(planted.option);
    DaemonOptions options = Daemon("sub", "run_until_quit");
    ASSERT_EQ(mkdir(File("open").c_str(), 0777), 0);
    chmod(File("open").c_str(), 0777);
    const std::string moved =
        File("open/" + std::filesystem::path(planted.path(options)).filename().string());
    if (std::string(planted.option) == "pid file") options.pid_filename = moved;
    if (std::string(planted.option) == "stdout_filename") options.stdout_filename = moved;
    if (std::string(planted.option) == "stderr_filename") options.stderr_filename = moved;
    if (std::string(planted.option) == "log file") {
      options.logging_config->mutable_handlers(0)->mutable_file()->set_filename(moved);
    }
    DaemonStartResult result = StartDaemon(options);
    EXPECT_EQ(result.status, DaemonRunStatus::kLaunchFailed);
    EXPECT_THAT(result.error, HasSubstr("writable by everyone")) << result.error;
    EXPECT_TRUE(std::filesystem::is_empty(File("open")));
    std::filesystem::remove_all(File("open"));
    std::filesystem::remove_all(File("sub"));
  }
  // With the sticky bit (as /tmp) it is fine.
  DaemonOptions options = Daemon("sub", "run_until_quit");
  ASSERT_EQ(mkdir(File("sticky").c_str(), 0777), 0);
  chmod(File("sticky").c_str(), 01777);
  options.pid_filename = File("sticky/d.pid");
  pid_t guardian = Launch(options);
  ASSERT_GT(guardian, 0);
  Stop(guardian);
}

// Attack: nobody owns the state directory given to appkitctl (or plants a
// symlink of theirs where appkitctl creates its default one). Refused,
// nothing created in it.
TEST_F(FileAttackTest, StateDirectoryOfAnotherUserIsRefused) {
  SKIP_UNLESS_ROOT();
  OpenForNobody();
  const std::string config = File("daemons.yaml");
  std::ofstream(config) << "demo:\n  entry: " << Module() << ":run_until_quit\n";
  ASSERT_EQ(mkdir(File("state").c_str(), 0755), 0);
  ASSERT_EQ(chown(File("state").c_str(), 65534, 65534), 0);
  CommandResult start = Ctl({"--config", config, "--state-dir", File("state"), "start", "demo"});
  EXPECT_EQ(start.exit_code, 1) << start.out;
  EXPECT_THAT(start.err, HasSubstr(File("state")));
  EXPECT_THAT(start.err, HasSubstr("uid 65534"));
  EXPECT_TRUE(std::filesystem::is_empty(File("state")));

  // The default state directory: nobody plants a symlink of theirs there
  // (in a sticky, world-writable config directory).
  ASSERT_EQ(mkdir(File("shared").c_str(), 0777), 0);
  chmod(File("shared").c_str(), 01777);
  std::filesystem::copy_file(config, File("shared/daemons.yaml"));
  ASSERT_EQ(RunAs(kNobody,
                  [&] {
                    mkdir(File("shared/elsewhere").c_str(), 0777);
                    return symlink(File("shared/elsewhere").c_str(),
                                   File("shared/appkit-state").c_str());
                  }),
            0);
  start = Ctl({"--config", File("shared/daemons.yaml"), "start", "demo"});
  EXPECT_EQ(start.exit_code, 1) << start.out;
  EXPECT_THAT(start.err, HasSubstr("symbolic link owned by uid 65534")) << start.err;
  EXPECT_TRUE(std::filesystem::is_empty(File("shared/elsewhere")));
}

// ===========================================================================
// Disk full (item 13): every failed write names its file, the debug file
// stays intact, the daemon keeps supervising.

class DiskFullAttackTest : public FileAttackTest {
 protected:
  void SetUp() override {
    FileAttackTest::SetUp();
    small_ = File("small");
    mkdir(small_.c_str(), 0755);
    mounted_ = mount("tmpfs", small_.c_str(), "tmpfs", 0, "size=256k,mode=0755") == 0;
  }
  void TearDown() override {
    FileAttackTest::TearDown();
    if (mounted_) umount2(small_.c_str(), MNT_DETACH);
  }

  // Fills the small file system up, the last page of `log` included.
  void Fill(const std::string& log) {
    for (const std::string& path : {small_ + "/filler", log}) {
      int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
      std::string block(path == log ? 1 : 4096, '\n');
      while (write(fd, block.data(), block.size()) > 0) {
      }
      close(fd);
    }
  }

  std::string small_;
  bool mounted_ = false;
};

TEST_F(DiskFullAttackTest, DiskFullIsSaidPlainlyAndSupervisionGoesOn) {
  if (!mounted_) GTEST_SKIP() << "cannot mount a small tmpfs here: " << strerror(errno);
  DaemonOptions options = PoolDaemon("pool");
  const std::string log = small_ + "/app.log";
  const std::string debug = small_ + "/debug.json";
  options.logging_config->mutable_handlers(0)->mutable_file()->set_filename(log);
  Json pool = Json::parse(options.daemon_args.ToJson());
  pool["debug_filename"] = debug;
  options.daemon_args = *Args::FromJson(pool.dump());
  pid_t guardian = Launch(options);
  ASSERT_GT(guardian, 0);
  ASSERT_TRUE(WaitFor([&] { return PidOfEvent(File("pool/w1.events"), "started") != 0; }));
  const pid_t w1 = PidOfEvent(File("pool/w1.events"), "started");
  // The debug file shows w1 running before the disk fills (a later write
  // may still land until Fill, but none after it).
  auto w1_in_debug = [&] {
    Json info = Json::parse(ReadFileOrEmpty(debug), nullptr, false);
    return !info.is_discarded() && info["worker_info_list"][0]["pid"] == w1 &&
           info["worker_info_list"][0]["history"].empty();
  };
  ASSERT_TRUE(WaitFor(w1_in_debug)) << ReadFileOrEmpty(debug);
  Fill(log);

  reaper_.Track(w1);
  kill(w1, SIGKILL);
  // Supervision goes on: the worker is back.
  ASSERT_TRUE(WaitFor([&] { return PidOfEvent(File("pool/w1.events"), "started", 1) != 0; }));
  reaper_.Track(PidOfEvent(File("pool/w1.events"), "started", 1));
  // Both failed writes are named where they can still be read.
  EXPECT_TRUE(WaitFor([&] {
    std::string err = ReadFileOrEmpty(options.stderr_filename);
    return absl::StrContains(err, "cannot write log file " + log + ": No space left") &&
           absl::StrContains(err, "cannot write debug file " + debug);
  })) << ReadFileOrEmpty(options.stderr_filename);
  // The debug file is the last one written before the disk filled, whole:
  // w1's first run, its death and restart not in it.
  EXPECT_TRUE(w1_in_debug()) << ReadFileOrEmpty(debug);
  CommandResult workers = Ctl({"workers", "--pid-file", options.pid_filename, "--json"});
  EXPECT_EQ(workers.exit_code, 0) << workers.err;

  // Space again: the next change is written.
  unlink((small_ + "/filler").c_str());
  const pid_t w1_again = PidOfEvent(File("pool/w1.events"), "started", 1);
  kill(w1_again, SIGKILL);
  EXPECT_TRUE(WaitFor([&] {
    Json info = Json::parse(ReadFileOrEmpty(debug), nullptr, false);
    return !info.is_discarded() && info["worker_info_list"][0]["history"].size() == 2;
  })) << ReadFileOrEmpty(debug);
  Stop(guardian);
}

}  // namespace
}  // namespace appkit
