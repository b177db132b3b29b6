// "/dev/stdout" and "/dev/stderr" as stdout_filename / stderr_filename
// (common/process/stdio_files.h): the caller's own fds passed down, end to
// end with real processes. A foreground run (RunDaemon, `appkitctl run`)
// whose entry or command program prints: the lines come out on the run's
// own stdout and stderr, pipes (or a socket) the test reads; a detached
// StartDaemon whose caller's stdout is a pipe; a worker whose "/dev/stdout"
// is its daemon's stdout file.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/appkit.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/forked_child.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

extern char** environ;

namespace appkit {
namespace {

using ::appkit::testing::PidOfEvent;
using ::appkit::testing::ReadFileOrEmpty;
using ::appkit::testing::WaitFor;
using ::appkit::testing::WaitForExit;
using Json = nlohmann::json;

std::string Module() { return testing::RunfilePath("testing/libtest_module.so"); }
std::string Appkitctl() { return testing::RunfilePath("client/appkitctl"); }

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// One end the test reads (non-blocking), one a child writes to: a pipe, or
// a stream socket (which no open of /proc/self/fd/N could reach).
class Stream {
 public:
  explicit Stream(bool socket = false) {
    int fds[2] = {-1, -1};
    const int made =
        socket ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) : pipe2(fds, O_CLOEXEC);
    EXPECT_EQ(made, 0) << strerror(errno);
    read_ = fds[0];
    write_ = fds[1];
    fcntl(read_, F_SETFL, O_NONBLOCK);
  }
  ~Stream() {
    close(read_);
    CloseWriteEnd();
  }
  int write_end() const { return write_; }
  void CloseWriteEnd() {
    if (write_ >= 0) close(write_);
    write_ = -1;
  }
  // What was written so far.
  const std::string& Text() {
    char buf[4096];
    ssize_t n;
    while ((n = read(read_, buf, sizeof(buf))) > 0) text_.append(buf, n);
    return text_;
  }
  bool WaitForText(const std::string& part) {
    return WaitFor([&] { return Has(Text(), part); }, absl::Seconds(20));
  }

 private:
  int read_ = -1;
  int write_ = -1;
  std::string text_;
};

// A child process with its fds 1 and 2 on `out` and `err`: `run` is
// called in it (its return value is the exit code); SIGKILLed if left.
class Child : public testing::ForkedChild {
 public:
  Child(Stream& out, Stream& err, const std::function<int()>& run)
      : ForkedChild([&] {
          dup2(out.write_end(), 1);
          dup2(err.write_end(), 2);
          return run();
        }) {
    out.CloseWriteEnd();
    err.CloseWriteEnd();
  }
};

int RunInChild(const DaemonOptions& options) {
  absl::StatusOr<int> status = RunDaemon(options);
  if (!status.ok()) {
    fprintf(stderr, "RunDaemon: %s\n", std::string(status.status().message()).c_str());
    return 250;
  }
  return *status;
}

int Exec(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  return 127;
}

// A program printing one line to each: what a server in a container does.
const std::vector<std::string> kPrinter = {
    "/bin/sh", "-c", "echo command stdout line; echo command stderr line >&2"};

class StdioPassthroughTest : public ::testing::Test {
 protected:
  DaemonOptions Options(const std::string& entry) {
    DaemonOptions options;
    options.pid_filename = dir_.File("d.pid");
    options.daemon_entry = Module() + ":" + entry;
    options.daemon_args.Set("events", events());
    options.stdout_filename = "/dev/stdout";
    options.stderr_filename = "/dev/stderr";
    return options;
  }
  std::string events() const { return dir_.File("events"); }

  testing::TempDir dir_;
};

TEST_F(StdioPassthroughTest, RunDaemonPassesAnEntrysOutputToItsOwnEvenASocket) {
  Stream out(/*socket=*/true), err;
  const DaemonOptions options = Options("run_until_quit");
  Child run(out, err, [&] { return RunInChild(options); });
  EXPECT_TRUE(out.WaitForText("stdout line from run_until_quit\n")) << err.Text();
  EXPECT_TRUE(err.WaitForText("stderr line from run_until_quit\n")) << err.Text();
  EXPECT_FALSE(Has(out.Text(), "stderr line")) << out.Text();
  ASSERT_EQ(kill(run.pid(), SIGTERM), 0);
  EXPECT_EQ(run.Wait(), 0) << err.Text();
  EXPECT_FALSE(testing::FileExists(dir_.File("d.pid")));
}

TEST_F(StdioPassthroughTest, RunDaemonPassesACommandsOutputToItsOwn) {
  Stream out, err;
  DaemonOptions options = Options("");
  options.daemon_entry.clear();
  options.command = kPrinter;
  Child run(out, err, [&] { return RunInChild(options); });
  EXPECT_EQ(run.Wait(), 0) << err.Text();
  EXPECT_TRUE(out.WaitForText("command stdout line\n")) << out.Text();
  EXPECT_TRUE(err.WaitForText("command stderr line\n")) << err.Text();
  EXPECT_FALSE(Has(out.Text(), "stderr")) << out.Text();
  EXPECT_FALSE(Has(err.Text(), "stdout")) << err.Text();
}

// `appkitctl run` passes its own stdout and stderr down (the daemons.yaml
// names none: a container's main process), not its layout's files.
TEST_F(StdioPassthroughTest, AppkitctlRunPassesAnEntrysOutputToItsOwn) {
  const std::string config = dir_.File("daemons.yaml");
  std::ofstream(config) << "demo:\n  entry: " << Module() << ":run_until_quit\n"
                        << "  args: {events: " << events() << "}\n";
  Stream out, err;
  Child run(out, err, [&] { return Exec({Appkitctl(), "--config", config, "run", "demo"}); });
  EXPECT_TRUE(out.WaitForText("stdout line from run_until_quit\n")) << err.Text();
  EXPECT_TRUE(err.WaitForText("stderr line from run_until_quit\n")) << err.Text();
  ASSERT_EQ(kill(run.pid(), SIGTERM), 0);
  EXPECT_EQ(run.Wait(), 0) << err.Text();
  const std::string state = dir_.File("appkit-state/demo/");
  EXPECT_EQ(ReadFileOrEmpty(state + "demo-out.txt"), "");
  EXPECT_EQ(ReadFileOrEmpty(state + "demo-err.txt"), "");
}

TEST_F(StdioPassthroughTest, AppkitctlRunPassesACommandsOutputToItsOwn) {
  const std::string config = dir_.File("daemons.yaml");
  std::ofstream(config) << "demo:\n  command: [/bin/sh, -c, \"" << kPrinter[2] << "\"]\n";
  Stream out, err;
  Child run(out, err, [&] { return Exec({Appkitctl(), "--config", config, "run", "demo"}); });
  EXPECT_EQ(run.Wait(), 0) << err.Text();
  EXPECT_TRUE(out.WaitForText("command stdout line\n")) << out.Text() << err.Text();
  EXPECT_TRUE(err.WaitForText("command stderr line\n")) << err.Text();
}

// Detached: the guardian, and the entry under it, keep the fd the caller
// had as its stdout (here a pipe) after StartDaemon returns.
TEST_F(StdioPassthroughTest, StartDaemonPassesTheCallersStdoutPipe) {
  Stream out;
  DaemonOptions options = Options("run_until_quit");
  options.stderr_filename = dir_.File("err.txt");
  const int saved = dup(1);
  fflush(stdout);
  dup2(out.write_end(), 1);
  DaemonStartResult result = StartDaemon(options);
  dup2(saved, 1);
  close(saved);
  out.CloseWriteEnd();
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
  testing::ProcessReaper reaper;
  reaper.Track(*result.pid);
  EXPECT_TRUE(out.WaitForText("stdout line from run_until_quit\n"))
      << ReadFileOrEmpty(options.stderr_filename);
  EXPECT_TRUE(WaitFor([&] {
    return Has(ReadFileOrEmpty(options.stderr_filename), "stderr line from run_until_quit");
  }));
  kill(*result.pid, SIGTERM);
  EXPECT_TRUE(WaitForExit(*result.pid, absl::Seconds(20)));
}

// A worker's "/dev/stdout" is its pool's (the executor's) fd 1: the
// daemon's stdout file.
TEST_F(StdioPassthroughTest, AWorkersDevStdoutIsTheDaemonsStdout) {
  Json pool = {{"events", events()},
               {"check_interval_ms", 3600 * 1000},
               {"workers",
                {{{"name", "w"},
                  {"entry", Module() + ":chatty_worker"},
                  {"pid_filename", dir_.File("w.pid")},
                  {"stdout_filename", "/dev/stdout"},
                  {"stderr_filename", "/dev/stderr"},
                  {"args", {{"events", dir_.File("w.events")}}}}}}};
  DaemonOptions options = Options("run_workers");
  options.stdout_filename = dir_.File("daemon-out.txt");
  options.stderr_filename = dir_.File("daemon-err.txt");
  auto args = Args::FromJson(pool.dump());
  ASSERT_TRUE(args.ok()) << args.status();
  options.daemon_args = *args;
  DaemonStartResult result = StartDaemon(options);
  ASSERT_EQ(result.status, DaemonRunStatus::kLaunched) << result.error;
  testing::ProcessReaper reaper;
  reaper.Track(*result.pid);
  EXPECT_TRUE(WaitFor([&] { return PidOfEvent(dir_.File("w.events"), "started") != 0; }))
      << ReadFileOrEmpty(options.stderr_filename);
  reaper.Track(PidOfEvent(dir_.File("w.events"), "started"));
  EXPECT_TRUE(WaitFor([&] {
    return Has(ReadFileOrEmpty(options.stdout_filename), "worker stdout line\n");
  })) << ReadFileOrEmpty(options.stdout_filename);
  EXPECT_TRUE(WaitFor([&] {
    return Has(ReadFileOrEmpty(options.stderr_filename), "worker stderr line\n");
  })) << ReadFileOrEmpty(options.stderr_filename);
  EXPECT_FALSE(Has(ReadFileOrEmpty(options.stdout_filename), "worker stderr line"));
  kill(*result.pid, SIGTERM);
  EXPECT_TRUE(WaitForExit(*result.pid, absl::Seconds(20)));
}

// Only the exact names are special: another spelling of the same symlink
// is refused as any planted symlink is (client/attacks/files.cc), before
// anything starts.
TEST_F(StdioPassthroughTest, OtherSpellingsAreRefusedNamingTheOption) {
  for (const char* path : {"/dev//stdout", "/proc/self/fd/1"}) {
    DaemonOptions options = Options("run_until_quit");
    options.stdout_filename = path;
    DaemonStartResult start = StartDaemon(options);
    EXPECT_EQ(start.status, DaemonRunStatus::kLaunchFailed) << path;
    EXPECT_TRUE(Has(start.error, "stdout_filename")) << start.error;
    EXPECT_TRUE(Has(start.error, path)) << start.error;
    absl::StatusOr<int> run = RunDaemon(options);
    ASSERT_FALSE(run.ok()) << path;
    EXPECT_TRUE(Has(std::string(run.status().message()), path)) << run.status();
    EXPECT_FALSE(testing::FileExists(dir_.File("d.pid")));
  }
}

}  // namespace
}  // namespace appkit
