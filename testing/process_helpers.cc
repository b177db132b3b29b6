#include "testing/process_helpers.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace appkit::testing {

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

namespace {
// /proc/<pid>/stat, or "" (reading a file of a process that exits midway
// fails with ESRCH: plain read(2), no stream exceptions).
std::string ReadStat(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  return n > 0 ? std::string(buf, n) : "";
}

char StateOf(pid_t pid) {
  std::string content = ReadStat(pid);
  size_t paren = content.rfind(')');
  if (paren == std::string::npos || paren + 2 >= content.size()) return 0;
  return content[paren + 2];
}
}  // namespace

bool ProcessAlive(pid_t pid) {
  char state = StateOf(pid);
  return state != 0 && state != 'Z' && state != 'X';
}

bool WaitForExit(pid_t pid, absl::Duration timeout) {
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return true;  // already gone
  pollfd pfd = {fd, POLLIN, 0};
  int n = poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  close(fd);
  if (n > 0) return true;
  return !ProcessAlive(pid);
}

pid_t ParentOf(pid_t pid) {
  std::string content = ReadStat(pid);
  size_t paren = content.rfind(')');
  if (paren == std::string::npos) return 0;
  std::vector<std::string> fields = absl::StrSplit(content.substr(paren + 2), ' ');
  int ppid = 0;
  if (fields.size() > 1) (void)absl::SimpleAtoi(fields[1], &ppid);
  return ppid;
}

std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::vector<pid_t> children;
  std::error_code error;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", error)) {
    std::ifstream in(task.path() / "children");
    for (pid_t child; in >> child;) children.push_back(child);
  }
  return children;
}

std::vector<std::string> LinesWithPrefix(const std::string& path, const std::string& prefix) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) lines.push_back(line);
  }
  return lines;
}

pid_t PidOfEvent(const std::string& path, const std::string& event, int nth) {
  std::vector<std::string> lines = LinesWithPrefix(path, event + " ");
  if (static_cast<int>(lines.size()) <= nth) return 0;
  int pid = 0;
  (void)absl::SimpleAtoi(lines[nth].substr(lines[nth].rfind(' ') + 1), &pid);
  return pid;
}

ProcessReaper::~ProcessReaper() {
  for (pid_t pid : pids_) {
    if (pid > 0 && ProcessAlive(pid)) {
      kill(pid, SIGKILL);
      WaitForExit(pid, absl::Seconds(5));
    }
  }
}

void ProcessReaper::Track(pid_t pid) {
  std::lock_guard<std::mutex> lock(mu_);
  if (pid > 0) pids_.push_back(pid);
}

std::string RunfilePath(const std::string& path) {
  const char* srcdir = getenv("TEST_SRCDIR");
  return std::string(srcdir ? srcdir : ".") + "/appkit/" + path;
}

CommandResult RunCommand(const std::vector<std::string>& argv, absl::Duration timeout) {
  CommandResult result;
  char out_name[] = "/tmp/appkit-cmd-out-XXXXXX";
  char err_name[] = "/tmp/appkit-cmd-err-XXXXXX";
  int out = mkstemp(out_name);
  int err = mkstemp(err_name);
  unlink(out_name);
  unlink(err_name);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out, 1);
    dup2(err, 2);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  if (pid > 0) {
    if (!WaitForExit(pid, timeout)) kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  }
  for (auto [fd, text] : {std::pair<int, std::string*>{out, &result.out}, {err, &result.err}}) {
    char buf[4096];
    ssize_t n;
    off_t offset = 0;
    while ((n = pread(fd, buf, sizeof(buf), offset)) > 0) {
      text->append(buf, n);
      offset += n;
    }
    close(fd);
  }
  return result;
}

}  // namespace appkit::testing
