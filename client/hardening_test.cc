// Hardening (issue 6): the bad-input matrix of SPEC §7 and beyond, crashes
// in odd places, control-socket security, fd hygiene, module search path,
// log durability and SIGHUP reopening of every file. Real binaries, real
// processes; every case checks that nothing is left behind and that a
// daemon already running is not disturbed.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/appkit.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::FileExists;
using ::appkit::testing::LinesWithPrefix;
using ::appkit::testing::PidOfEvent;
using ::appkit::testing::ProcessAlive;
using ::appkit::testing::ReadFileOrEmpty;
using ::appkit::testing::WaitFor;
using ::appkit::testing::WaitForExit;
using Json = nlohmann::json;

std::string Module() { return testing::RunfilePath("testing/libtest_module.so"); }

std::set<std::string> Listing(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.insert(entry.path().filename());
  }
  return names;
}

class HardeningTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (pid_t pid : guardians_) {
      if (ProcessAlive(pid)) {
        kill(pid, SIGTERM);
        WaitForExit(pid, absl::Seconds(15));
      }
    }
  }

  std::string File(const std::string& name) const { return dir_.File(name); }

  // A daemon in its own sub-directory; its pid and its executor's.
  pid_t Launch(DaemonOptions options) {
    DaemonStartResult result = StartDaemon(options);
    EXPECT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
    if (!result.pid) return 0;
    guardians_.push_back(*result.pid);
    reaper_.Track(*result.pid);
    return *result.pid;
  }

  DaemonOptions Daemon(const std::string& name, const std::string& function) {
    std::filesystem::create_directories(File(name));
    DaemonOptions options;
    options.pid_filename = File(name + "/d.pid");
    options.daemon_entry = Module() + ":" + function;
    options.daemon_args.Set("events", File(name + "/events"));
    options.stdout_filename = File(name + "/out.txt");
    options.stderr_filename = File(name + "/err.txt");
    options.logging_config =
        *LoggingConfigFromJson(R"({"level": "DEBUG", "handlers": [{"file": {"filename": ")" +
                               File(name + "/app.log") + R"("}}]})");
    return options;
  }

  testing::TempDir dir_;
  testing::ProcessReaper reaper_;
  std::vector<pid_t> guardians_;
};

// ---------------------------------------------------------------------------
// The bad-input matrix: each case gets kLaunchFailed naming the culprit,
// leaves no file in its directory, and does not disturb a running daemon.

struct BadCase {
  std::string name;
  std::function<void(DaemonOptions&, const std::string& dir)> spoil;
  std::string culprit;  // must appear in the error ("$DIR" = the case's dir)
};

TEST_F(HardeningTest, BadInputMatrix) {
  pid_t bystander = Launch(Daemon("bystander", "run_until_quit"));
  ASSERT_GT(bystander, 0);
  ASSERT_TRUE(WaitFor([&] { return PidOfEvent(File("bystander/events"), "started") != 0; }));
  const pid_t bystander_executor = PidOfEvent(File("bystander/events"), "started");

  const bool root = geteuid() == 0;
  std::vector<BadCase> cases = {
      {"malformed entry: no colon", [](auto& o, auto&) { o.daemon_entry = "no_colon"; },
       "no_colon"},
      {"malformed entry: empty module", [](auto& o, auto&) { o.daemon_entry = ":fn"; }, ":fn"},
      {"malformed entry: empty function", [](auto& o, auto&) { o.daemon_entry = "mod:"; }, "mod:"},
      {"malformed entry: bad identifier",
       [](auto& o, auto&) { o.daemon_entry = "mod:not-an-identifier"; }, "not-an-identifier"},
      {"missing module", [](auto& o, auto&) { o.daemon_entry = "no_such_module_q:main"; },
       "no_such_module_q"},
      {"missing function", [](auto& o, auto&) { o.daemon_entry = Module() + ":no_such_fn_q"; },
       "no_such_fn_q"},
      {"pid file in a missing directory",
       [](auto& o, auto& d) { o.pid_filename = d + "/missing/d.pid"; }, "$DIR/missing"},
      {"pid path is a directory", [](auto& o, auto& d) { o.pid_filename = d; }, "$DIR"},
      {"stdout in a missing directory",
       [](auto& o, auto& d) { o.stdout_filename = d + "/missing/out.txt"; }, "$DIR/missing"},
      {"stderr in a missing directory",
       [](auto& o, auto& d) { o.stderr_filename = d + "/missing/err.txt"; }, "$DIR/missing"},
      {"stdout is a directory", [](auto& o, auto& d) { o.stdout_filename = d; }, "stdout"},
      {"unwritable stdout path",
       [root](auto& o, auto& d) {
         if (root) {
           o.stdout_filename = "/sys/appkit-hardening-out.txt";  // sysfs: no new files
         } else {
           mkdir((d + "/ro").c_str(), 0500);
           o.stdout_filename = d + "/ro/out.txt";
         }
       },
       root ? "/sys/appkit-hardening-out.txt" : "$DIR/ro"},
      {"log file in a missing directory",
       [](auto& o, auto& d) {
         o.logging_config->mutable_handlers(0)->mutable_file()->set_filename(d + "/missing/a.log");
       },
       "$DIR/missing"},
      {"negative restart_interval", [](auto& o, auto&) { o.restart_interval = absl::Seconds(-1); },
       "restart_interval"},
      {"negative stop_timeout", [](auto& o, auto&) { o.stop_timeout = absl::Seconds(-2); },
       "stop_timeout"},
      {"over-long socket path",
       [](auto& o, auto& d) { o.control_socket = d + "/" + std::string(120, 's') + ".sock"; },
       std::string(120, 's')},
      {"missing pid_filename", [](auto& o, auto&) { o.pid_filename.clear(); }, "pid_filename"},
      {"missing daemon_entry", [](auto& o, auto&) { o.daemon_entry.clear(); }, "daemon_entry"},
  };
  int index = 0;
  for (const BadCase& bad : cases) {
    const std::string case_dir = File("case" + std::to_string(index++));
    std::filesystem::create_directories(case_dir);
    DaemonOptions options = Daemon("unused", "run_until_quit");
    options.pid_filename = case_dir + "/d.pid";
    options.stdout_filename = case_dir + "/out.txt";
    options.stderr_filename = case_dir + "/err.txt";
    bad.spoil(options, case_dir);
    const std::set<std::string> before = Listing(case_dir);
    DaemonStartResult result = StartDaemon(options);
    if (result.pid) reaper_.Track(*result.pid);
    std::string culprit = bad.culprit;
    if (size_t at = culprit.find("$DIR"); at != std::string::npos) culprit.replace(at, 4, case_dir);
    EXPECT_EQ(result.status, DaemonRunStatus::kLaunchFailed) << bad.name;
    EXPECT_TRUE(absl::StrContains(result.error, culprit))
        << bad.name << ": error '" << result.error << "' does not name '" << culprit << "'";
    EXPECT_EQ(Listing(case_dir), before) << bad.name << ": left something behind";
  }
  // The running daemon saw none of it.
  EXPECT_TRUE(ProcessAlive(bystander));
  EXPECT_TRUE(ProcessAlive(bystander_executor));
  EXPECT_EQ(LinesWithPrefix(File("bystander/events"), "started").size(), 1u);
  EXPECT_EQ(ReadFileOrEmpty(File("bystander/d.pid")), std::to_string(bystander) + "\n");
  printf("bad-input matrix: %zu cases\n", cases.size());
}

TEST_F(HardeningTest, ArgsThatAreNotAJsonObject) {
  for (const std::string json : {"[1, 2]", "42", "\"text\"", "null", ""}) {
    auto args = Args::FromJson(json);
    ASSERT_FALSE(args.ok()) << json;
    EXPECT_TRUE(absl::IsInvalidArgument(args.status())) << json;
    EXPECT_TRUE(absl::StrContains(args.status().message(), "JSON object"))
        << json << ": " << args.status();
  }
  for (const std::string json : {"{\"open\": ", "{'single': 1}", "{\"a\": 1,}"}) {
    auto args = Args::FromJson(json);
    ASSERT_FALSE(args.ok()) << json;
    EXPECT_TRUE(absl::IsInvalidArgument(args.status())) << json;
    EXPECT_TRUE(absl::StrContains(args.status().message(), "not valid JSON"))
        << json << ": " << args.status();
  }
}

TEST_F(HardeningTest, HugeArgsReachTheEntryIntact) {
  DaemonOptions options = Daemon("huge", "args_size");
  const std::string blob(10 << 20, 'x');  // 10 MiB
  options.daemon_args.Set("blob", blob);
  const size_t expected = options.daemon_args.ToJson().size();
  ASSERT_GT(Launch(options), 0);
  EXPECT_TRUE(WaitFor([&] {
    return !LinesWithPrefix(File("huge/events"), "args_bytes=" + std::to_string(expected)).empty();
  })) << ReadFileOrEmpty(File("huge/err.txt"));
}

// ---------------------------------------------------------------------------
// Crashes in odd places.

TEST_F(HardeningTest, ModuleWhoseStaticConstructorCrashes) {
  DaemonOptions options = Daemon("ctor", "never_runs");
  options.daemon_entry = testing::RunfilePath("testing/libcrash_on_load.so") + ":never_runs";
  pid_t guardian = Launch(options);  // the caller never loads modules: it survives
  ASSERT_GT(guardian, 0);
  ASSERT_TRUE(WaitForExit(guardian));  // no restart_interval: the daemon ends
  const std::string log = ReadFileOrEmpty(File("ctor/app.log"));
  EXPECT_TRUE(absl::StrContains(log, "killed by signal 11 (SIGSEGV) while loading entry")) << log;
  EXPECT_TRUE(absl::StrContains(log, "never_runs")) << log;
  EXPECT_FALSE(FileExists(options.pid_filename));
  EXPECT_FALSE(FileExists(options.pid_filename + ".sock"));
}

TEST_F(HardeningTest, EntryCallingExitOrAbort) {
  for (const auto& [function, words] : std::vector<std::pair<std::string, std::string>>{
           {"call_exit", "exited with code 3"}, {"call_abort", "killed by signal 6 (SIGABRT)"}}) {
    DaemonOptions options = Daemon(function, function);
    pid_t guardian = Launch(options);
    ASSERT_GT(guardian, 0);
    ASSERT_TRUE(WaitForExit(guardian)) << function;
    const std::string log = ReadFileOrEmpty(File(function + "/app.log"));
    EXPECT_TRUE(absl::StrContains(log, words + "; no restart_interval")) << function << ": " << log;
    EXPECT_FALSE(FileExists(options.pid_filename));
  }
}

TEST_F(HardeningTest, WorkerGrandchildrenDoNotSurviveAStop) {
  DaemonOptions options = Daemon("pool", "run_workers");
  Json pool = {{"events", File("pool/events")},
               {"workers",
                {{{"name", "w1"},
                  {"entry", Module() + ":fork_grandchild"},
                  {"pid_filename", File("pool/w1.pid")},
                  {"args", {{"events", File("pool/w1.events")}}}}}}};
  options.daemon_args = *Args::FromJson(pool.dump());
  pid_t guardian = Launch(options);
  std::vector<std::string> lines;
  ASSERT_TRUE(WaitFor(
      [&] { return !(lines = LinesWithPrefix(File("pool/w1.events"), "grandchild=")).empty(); }));
  pid_t grandchild = std::stoi(lines[0].substr(11));
  reaper_.Track(grandchild);
  kill(guardian, SIGTERM);
  ASSERT_TRUE(WaitForExit(guardian));
  EXPECT_TRUE(WaitForExit(grandchild, absl::Seconds(1)));
}

// ---------------------------------------------------------------------------
// Security.

// Connects to `socket` as `uid` (in a child) and reports: "denied" when
// connect fails with EACCES, "closed" when the server hangs up at once,
// "open" when the connection stays up, "error N" otherwise.
std::string ConnectAs(uid_t uid, gid_t gid, const std::string& socket) {
  int report[2];
  if (pipe(report) != 0) return "pipe";
  pid_t child = fork();
  if (child == 0) {
    close(report[0]);
    auto say = [&](const char* word) {
      (void)!write(report[1], word, strlen(word));
      _exit(0);
    };
    if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 ||
        setresuid(uid, uid, uid) != 0) {
      say("setuid failed");
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    strncpy(addr.sun_path, socket.c_str(), sizeof(addr.sun_path) - 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      say(errno == EACCES ? "denied" : "connect error");
    }
    // An HTTP/2 client preface; a refused peer is hung up on at once
    // (maybe before this send: EPIPE).
    const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    if (send(fd, preface, sizeof(preface) - 1, MSG_NOSIGNAL) < 0) {
      say(errno == EPIPE || errno == ECONNRESET ? "closed" : "send error");
    }
    pollfd wait = {fd, POLLIN, 0};
    if (poll(&wait, 1, 2000) == 1) {
      char buf[64];
      ssize_t n = read(fd, buf, sizeof(buf));
      say(n <= 0 ? "closed" : "open");
    }
    say("open");
  }
  close(report[1]);
  char word[64] = {};
  (void)!read(report[0], word, sizeof(word) - 1);
  close(report[0]);
  waitpid(child, nullptr, 0);
  return word;
}

TEST_F(HardeningTest, AnotherUserIsRefusedByModeAndByPeerCredentials) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to act as nobody";
  DaemonOptions options = Daemon("sec", "run_until_quit");
  pid_t guardian = Launch(options);
  ASSERT_GT(guardian, 0);
  const std::string socket = options.pid_filename + ".sock";
  // The directory must let nobody reach the socket at all.
  chmod(dir_.path().c_str(), 0755);
  chmod(File("sec").c_str(), 0755);
  struct stat st;
  ASSERT_EQ(stat(socket.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_EQ(ConnectAs(65534, 65534, socket), "denied");  // mode 0600
  // Even with the mode opened up by mistake, SO_PEERCRED keeps them out.
  chmod(socket.c_str(), 0666);
  EXPECT_EQ(ConnectAs(65534, 65534, socket), "closed");
  EXPECT_TRUE(WaitFor([&] {
    return absl::StrContains(ReadFileOrEmpty(File("sec/app.log")), "refused");
  })) << ReadFileOrEmpty(File("sec/app.log"));
  // The owner still gets in.
  EXPECT_EQ(ConnectAs(0, 0, socket), "open");
  EXPECT_TRUE(ProcessAlive(guardian));
}

// The fds of a process, as "<n>:<target>" lines marked by list_fds.
std::vector<std::string> MarkedFds(const std::string& events) {
  std::vector<std::string> fds;
  for (const std::string& line : LinesWithPrefix(events, "fd=")) {
    fds.push_back(line.substr(3, line.rfind(' ') - 3));
  }
  return fds;
}

// What appkit itself may hold open in a process that runs user code.
bool Allowed(const std::string& fd, const std::set<std::string>& files, bool worker) {
  const std::string target = fd.substr(fd.find(':') + 1);
  const int number = std::stoi(fd.substr(0, fd.find(':')));
  if (files.count(target)) return true;  // stdin/stdout/stderr/log files
  // The process's own pid file, held locked for its life: created with
  // O_TMPFILE, so /proc shows it as "<dir>/#<inode> (deleted)".
  for (const std::string& file : files) {
    const std::string dir = file.substr(0, file.rfind('/') + 1);
    if (absl::StartsWith(target, dir + "#") && absl::EndsWith(target, " (deleted)") &&
        absl::StrContains(file, ".pid")) {
      return true;
    }
  }
  if (absl::StartsWith(target, "anon_inode:[eventfd]")) return true;  // the quit latch
  if (absl::StartsWith(target, "pipe:")) return true;                 // the SIGHUP self-pipe
  if (worker && number == 3 && absl::StartsWith(target, "socket:")) return true;  // its channel
  return false;
}

TEST_F(HardeningTest, NoFileDescriptorLeaksIntoUserCode) {
  DaemonOptions options = Daemon("fds", "run_workers");
  Json pool = {{"events", File("fds/events")},
               {"workers",
                {{{"name", "w1"},
                  {"entry", Module() + ":list_fds"},
                  {"pid_filename", File("fds/w1.pid")},
                  {"stdout_filename", File("fds/w1.out")},
                  {"args", {{"events", File("fds/w1.events")}}}},
                 {{"name", "w2"},
                  {"entry", Module() + ":run_until_quit"},
                  {"pid_filename", File("fds/w2.pid")},
                  {"args", {{"events", File("fds/w2.events")}}}}}}};
  options.daemon_args = *Args::FromJson(pool.dump());
  ASSERT_GT(Launch(options), 0);
  ASSERT_TRUE(WaitFor([&] { return PidOfEvent(File("fds/w1.events"), "started") != 0; }));
  const std::set<std::string> worker_files = {"/dev/null", File("fds/w1.out"), File("fds/w1.pid")};
  std::vector<std::string> worker_fds = MarkedFds(File("fds/w1.events"));
  ASSERT_FALSE(worker_fds.empty());
  for (const std::string& fd : worker_fds) {
    EXPECT_TRUE(Allowed(fd, worker_files, true)) << "worker leaks fd " << fd;
  }

  // The executor (where the daemon entry runs) too.
  DaemonOptions plain = Daemon("fds2", "list_fds");
  ASSERT_GT(Launch(plain), 0);
  ASSERT_TRUE(WaitFor([&] { return PidOfEvent(File("fds2/events"), "started") != 0; }));
  const std::set<std::string> executor_files = {"/dev/null", File("fds2/out.txt"),
                                                File("fds2/err.txt"), File("fds2/app.log")};
  std::vector<std::string> executor_fds = MarkedFds(File("fds2/events"));
  ASSERT_FALSE(executor_fds.empty());
  // One socket at most: the prestarted worker fork server's
  // (controller/prestarted_server.h), close-on-exec, retired unclaimed.
  int sockets = 0;
  for (const std::string& fd : executor_fds) {
    if (absl::StrContains(fd, ":socket:") && ++sockets == 1) continue;
    EXPECT_TRUE(Allowed(fd, executor_files, false)) << "executor leaks fd " << fd;
  }
}

TEST_F(HardeningTest, CurrentDirectoryIsNeverSearchedForModules) {
  const std::string cwd_dir = File("cwd");
  std::filesystem::create_directories(cwd_dir);
  ASSERT_EQ(symlink(Module().c_str(), (cwd_dir + "/libcwdmod.so").c_str()), 0);
  char saved[4096];
  ASSERT_NE(getcwd(saved, sizeof(saved)), nullptr);
  const char* old_path = getenv("APPKIT_MODULE_PATH");
  std::string old = old_path ? old_path : "";
  ASSERT_EQ(chdir(cwd_dir.c_str()), 0);
  for (const char* path : {"", "::", ":"}) {
    setenv("APPKIT_MODULE_PATH", path, 1);
    DaemonOptions options = Daemon("cwdcase", "run_until_quit");
    options.daemon_entry = "cwdmod:run_until_quit";
    DaemonStartResult result = StartDaemon(options);
    if (result.pid) reaper_.Track(*result.pid);
    EXPECT_EQ(result.status, DaemonRunStatus::kLaunchFailed)
        << "APPKIT_MODULE_PATH='" << path << "'";
    EXPECT_TRUE(absl::StrContains(result.error, "cwdmod")) << result.error;
  }
  ASSERT_EQ(chdir(saved), 0);
  if (old_path) {
    setenv("APPKIT_MODULE_PATH", old.c_str(), 1);
  } else {
    unsetenv("APPKIT_MODULE_PATH");
  }
}

// ---------------------------------------------------------------------------
// Log durability.

TEST_F(HardeningTest, LinesWrittenRightBeforeACrashAreKept) {
  // In the executor...
  DaemonOptions daemon = Daemon("crash", "print_and_crash");
  pid_t guardian = Launch(daemon);
  ASSERT_TRUE(WaitForExit(guardian));
  EXPECT_TRUE(absl::StrContains(ReadFileOrEmpty(File("crash/out.txt")), "last words on stdout"));
  EXPECT_TRUE(absl::StrContains(ReadFileOrEmpty(File("crash/app.log")), "last words in the log"));

  // ... and in a worker.
  DaemonOptions options = Daemon("wcrash", "run_workers");
  Json pool = {{"events", File("wcrash/events")},
               {"workers",
                {{{"name", "w1"},
                  {"entry", Module() + ":print_and_crash"},
                  {"pid_filename", File("wcrash/w1.pid")},
                  {"stdout_filename", File("wcrash/w1.out")},
                  {"logging_json",
                   R"({"handlers": [{"file": {"filename": ")" + File("wcrash/w1.log") + R"("}}]})"},
                  {"args", {{"events", File("wcrash/w1.events")}}}}}}};
  options.daemon_args = *Args::FromJson(pool.dump());
  ASSERT_GT(Launch(options), 0);
  EXPECT_TRUE(WaitFor([&] {
    return absl::StrContains(ReadFileOrEmpty(File("wcrash/w1.out")), "last words on stdout") &&
           absl::StrContains(ReadFileOrEmpty(File("wcrash/w1.log")), "last words in the log");
  })) << ReadFileOrEmpty(File("wcrash/app.log"));
}

TEST_F(HardeningTest, SighupReopensEveryOutputFile) {
  DaemonOptions options = Daemon("hup", "run_workers");
  Json pool = {{"events", File("hup/events")},
               {"workers",
                {{{"name", "w1"},
                  {"entry", Module() + ":chatty_worker"},
                  {"pid_filename", File("hup/w1.pid")},
                  {"stdout_filename", File("hup/w1.out")},
                  {"stderr_filename", File("hup/w1.err")},
                  {"logging_json",
                   R"({"handlers": [{"file": {"filename": ")" + File("hup/w1.log") + R"("}}]})"},
                  {"args", {{"events", File("hup/w1.events")}}}}}}};
  options.daemon_args = *Args::FromJson(pool.dump());
  pid_t guardian = Launch(options);
  ASSERT_TRUE(WaitFor([&] {
    return absl::StrContains(ReadFileOrEmpty(File("hup/w1.log")), "worker module line");
  }));
  const std::vector<std::string> files = {"hup/out.txt", "hup/err.txt", "hup/app.log",
                                          "hup/w1.out",  "hup/w1.err",  "hup/w1.log"};
  for (const std::string& name : files) {
    ASSERT_EQ(rename(File(name).c_str(), File(name + ".1").c_str()), 0) << name;
  }
  kill(guardian, SIGHUP);  // what logrotate's postrotate does
  for (const std::string& name : files) {
    EXPECT_TRUE(WaitFor([&] { return FileExists(File(name)); })) << name << " not reopened";
  }
  EXPECT_TRUE(WaitFor([&] {
    const std::string log = ReadFileOrEmpty(File("hup/app.log"));
    return absl::StrContains(log, "[guardian]") && absl::StrContains(log, "[executor]");
  }));
  EXPECT_TRUE(
      WaitFor([&] { return absl::StrContains(ReadFileOrEmpty(File("hup/w1.log")), "reopened"); }));
  EXPECT_TRUE(ProcessAlive(guardian));
}

}  // namespace
}  // namespace appkit
