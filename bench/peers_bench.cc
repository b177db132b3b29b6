// A pool of 4 against runit's runsvdir with 4 services, in the same run
// (issue 17, item 4):
//   - one of 4 crashes (SIGKILL) -> its replacement's entry runs: an appkit
//     worker (StartWorkers in a daemon, restart_interval 0, entry
//     bench_module:mark_and_wait) vs a runsv-supervised C program
//     (bench/mark_program.c) under runsvdir;
//   - stop request -> the whole tree gone: SIGTERM to the daemon's guardian
//     vs SIGHUP to runsvdir (it sends TERM to every runsv, each stops its
//     program and exits) and vs SIGTERM to runsvdir and to every runsv
//     (runit's fastest), until every process of the tree has exited.
// Each crashed process ran over a second first, since runsv delays the
// restart of a faster exit; appkit gets the same rhythm.
// runit is used when `runsvdir` is in the PATH (Debian: apt-get install
// runit); its rows are skipped otherwise.
//
//   ./bazelw run -c opt //bench:peers_bench
//
// Numbers, not asserts; medians over the rounds.
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "bench/bench_util.h"
#include "client/appkit.h"

using namespace appkit::bench;  // NOLINT: the helpers of bench_util.h

namespace {

constexpr int kRounds = 11;
constexpr int kPool = 4;

// `root` and every process below it, now (children of every thread).
std::vector<pid_t> Tree(pid_t root) {
  std::vector<pid_t> tree = {root};
  for (size_t i = 0; i < tree.size(); ++i) {
    std::error_code error;
    const std::string tasks = "/proc/" + std::to_string(tree[i]) + "/task";
    for (const auto& task : std::filesystem::directory_iterator(tasks, error)) {
      std::ifstream in(task.path() / "children");
      pid_t child;
      while (in >> child) tree.push_back(child);
    }
  }
  return tree;
}

std::string CommOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string comm;
  std::getline(in, comm);
  return comm;
}

// Waits (pidfds, no polling) until every pid of `pids` exited, within
// `timeout_ms`; the ns from `t0` at which each was seen gone.
bool WaitAllExit(const std::vector<pid_t>& pids, int timeout_ms, int64_t t0 = 0,
                 std::map<pid_t, double>* gone_ns = nullptr) {
  std::vector<pollfd> fds;
  std::vector<pid_t> of;
  for (pid_t pid : pids) {
    int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) {
      if (gone_ns) (*gone_ns)[pid] = static_cast<double>(NowNs() - t0);
      continue;
    }
    fds.push_back({fd, POLLIN, 0});
    of.push_back(pid);
  }
  const absl::Time deadline = absl::Now() + absl::Milliseconds(timeout_ms);
  size_t open = fds.size();
  bool ok = true;
  while (open > 0) {
    const int left = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (left <= 0 || poll(fds.data(), fds.size(), left) <= 0) {
      ok = false;
      break;
    }
    const int64_t now = NowNs();
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd >= 0 && fds[i].revents) {
        close(fds[i].fd);
        fds[i].fd = -1;  // poll ignores it from now on
        --open;
        if (gone_ns) (*gone_ns)[of[i]] = static_cast<double>(now - t0);
      }
    }
  }
  for (pollfd& p : fds) {
    if (p.fd >= 0) close(p.fd);
  }
  return ok;
}

// One stop: when the supervised programs were all gone, when `middle`
// (the executor; none for runit) was, and when the whole tree was.
struct StopTimes {
  std::vector<double> programs_ns, middle_ns, tree_ns;
  void Add(const std::vector<pid_t>& tree, const std::map<pid_t, double>& gone,
           const std::function<bool(const std::string&)>& is_program, const std::string& middle) {
    double programs = 0, mid = 0, all = 0;
    for (pid_t pid : tree) {
      const std::string comm = comms.at(pid);
      const double at = gone.at(pid);
      all = std::max(all, at);
      if (is_program(comm)) programs = std::max(programs, at);
      if (comm == middle) mid = std::max(mid, at);
    }
    programs_ns.push_back(programs);
    middle_ns.push_back(mid);
    tree_ns.push_back(all);
  }
  std::map<pid_t, std::string> comms;  // of the tree, before the stop
};

// The "started"/"start" marks of `path` reaching `count`.
std::vector<Mark> WaitStarts(const std::string& path, size_t count) {
  std::vector<Mark> starts;
  WaitFor(
      [&] {
        starts.clear();
        for (const Mark& mark : ReadMarks(path)) {
          if (mark.event != "pool") starts.push_back(mark);
        }
        return starts.size() >= count;
      },
      absl::Seconds(20));
  if (starts.size() < count) {
    fprintf(stderr, "no start %zu in %s\n", count, path.c_str());
    exit(1);
  }
  return starts;
}

struct Numbers {
  std::vector<double> restart_ns;
  StopTimes stop;
  StopTimes stop_each;  // runit: TERM to runsvdir and every runsv
};

pid_t StartAppkitPool(const std::string& dir, const std::string& events) {
  std::filesystem::create_directories(dir + "/pids");
  appkit::DaemonOptions options;
  options.pid_filename = dir + "/pool.pid";
  options.daemon_entry = Module() + ":run_pool";
  options.daemon_args.Set("events", events)
      .Set("count", kPool)
      .Set("entry", "mark_and_wait")
      .Set("dir", dir + "/pids")
      .Set("restart_interval_ms", 0);
  options.stderr_filename = dir + "/pool.err";
  appkit::DaemonStartResult result = appkit::StartDaemon(options);
  if (result.status != appkit::DaemonRunStatus::kLaunched) {
    fprintf(stderr, "StartDaemon failed: %s\n", result.error.c_str());
    exit(1);
  }
  return *result.pid;
}

Numbers AppkitRounds(const std::string& dir) {
  Numbers numbers;
  // Crash -> replacement: one pool, a worker killed per round.
  {
    const std::string events = dir + "/restart.events";
    const pid_t guardian = StartAppkitPool(dir + "/restart", events);
    size_t starts = kPool;
    std::vector<pid_t> running;
    for (const Mark& mark : WaitStarts(events, starts)) running.push_back(mark.pid);
    for (int i = 0; i < kRounds; ++i) {
      absl::SleepFor(absl::Milliseconds(1100));  // as for runsv: a run of more than 1 s
      const int64_t t0 = NowNs();
      kill(running[i % kPool], SIGKILL);
      const Mark replacement = WaitStarts(events, ++starts).back();
      numbers.restart_ns.push_back(static_cast<double>(replacement.ns - t0));
      running[i % kPool] = replacement.pid;
    }
    kill(guardian, SIGTERM);
    WaitAllExit(Tree(guardian), 10000);
  }
  // Stop -> tree gone: a fresh pool per round.
  for (int i = 0; i < kRounds; ++i) {
    const std::string sub = dir + "/stop" + std::to_string(i);
    const pid_t guardian = StartAppkitPool(sub, sub + ".events");
    WaitStarts(sub + ".events", kPool);
    const std::vector<pid_t> tree = Tree(guardian);
    for (pid_t pid : tree) numbers.stop.comms[pid] = CommOf(pid);
    std::map<pid_t, double> gone;
    const int64_t t0 = NowNs();
    kill(guardian, SIGTERM);
    if (!WaitAllExit(tree, 10000, t0, &gone)) exit(1);
    numbers.stop.Add(
        tree, gone, [](const std::string& comm) { return comm.rfind("appkit-", 0) != 0; },
        "appkit-executor");
  }
  return numbers;
}

// runsvdir over `kPool` services running mark_program; marks in each
// service's directory (its working directory).
pid_t StartRunsvdir(const std::string& runsvdir, const std::string& dir) {
  for (int s = 0; s < kPool; ++s) {
    const std::string service = dir + "/s" + std::to_string(s);
    std::filesystem::create_directories(service);
    std::filesystem::create_symlink(MarkProgram(), service + "/run");
  }
  const pid_t pid = fork();
  if (pid == 0) {
    execl(runsvdir.c_str(), "runsvdir", dir.c_str(), nullptr);
    _exit(127);
  }
  return pid;
}

Numbers RunitRounds(const std::string& dir, const std::string& runsvdir) {
  Numbers numbers;
  {
    const std::string services = dir + "/restart";
    const pid_t root = StartRunsvdir(runsvdir, services);
    std::vector<size_t> starts(kPool, 1);
    std::vector<pid_t> running(kPool);
    for (int s = 0; s < kPool; ++s) {
      running[s] = WaitStarts(services + "/s" + std::to_string(s) + "/marks", 1).back().pid;
    }
    for (int i = 0; i < kRounds; ++i) {
      absl::SleepFor(absl::Milliseconds(1100));
      const int s = i % kPool;
      const std::string marks = services + "/s" + std::to_string(s) + "/marks";
      const int64_t t0 = NowNs();
      kill(running[s], SIGKILL);
      const Mark replacement = WaitStarts(marks, ++starts[s]).back();
      numbers.restart_ns.push_back(static_cast<double>(replacement.ns - t0));
      running[s] = replacement.pid;
    }
    const std::vector<pid_t> tree = Tree(root);
    kill(root, SIGHUP);
    WaitAllExit(tree, 10000);
    waitpid(root, nullptr, 0);
  }
  for (int i = 0; i < 2 * kRounds; ++i) {
    const std::string services = dir + "/stop" + std::to_string(i);
    const pid_t root = StartRunsvdir(runsvdir, services);
    for (int s = 0; s < kPool; ++s) WaitStarts(services + "/s" + std::to_string(s) + "/marks", 1);
    const std::vector<pid_t> tree = Tree(root);
    StopTimes& times = i % 2 == 0 ? numbers.stop : numbers.stop_each;
    for (pid_t pid : tree) times.comms[pid] = CommOf(pid);
    std::map<pid_t, double> gone;
    const int64_t t0 = NowNs();
    if (i % 2 == 0) {
      kill(root, SIGHUP);  // runsvdir: TERM to every runsv, then exits
    } else {
      // runit's fastest: TERM to runsvdir (it exits, leaving the runsv
      // processes) and to every runsv (each stops its program and exits).
      for (pid_t pid : tree) {
        char comm[32] = {};
        FILE* f = fopen(("/proc/" + std::to_string(pid) + "/comm").c_str(), "r");
        if (f && fgets(comm, sizeof(comm), f) && std::string(comm).rfind("runsv", 0) == 0) {
          kill(pid, SIGTERM);
        }
        if (f) fclose(f);
      }
    }
    if (!WaitAllExit(tree, 10000, t0, &gone)) exit(1);
    times.Add(
        tree, gone, [](const std::string& comm) { return comm == "run"; }, "");
    waitpid(root, nullptr, 0);
  }
  return numbers;
}

}  // namespace

int main() {
  char templ[] = "/tmp/appkit-peers-XXXXXX";
  const std::string dir = mkdtemp(templ);
  const std::string runsvdir = PeerProgram("runsvdir");
  // One round lasts over a second: appkit's rounds, then runit's, in the
  // same process and minutes.
  const Numbers ours = AppkitRounds(dir + "/appkit");
  Numbers theirs;
  if (!runsvdir.empty()) theirs = RunitRounds(dir + "/runit", runsvdir);
  std::filesystem::remove_all(dir);

  printf("| %-54s | %10s | %-10s |\n", "peers_bench: pools of 4 (medians of 11)", "value",
         "target");
  printf("|%s|%s|%s|\n", std::string(56, '-').c_str(), std::string(12, '-').c_str(),
         std::string(12, '-').c_str());
  auto row = [](const char* what, double ns, const char* target) {
    printf("| %-54s | %10s | %-10s |\n", what, Ms(ns).c_str(), target);
  };
  row("appkit worker killed -> replacement's entry runs", Median(ours.restart_ns), "<= runit");
  row("appkit SIGTERM to the daemon -> workers gone", Median(ours.stop.programs_ns), "<= runit");
  row("  -> the executor (controller) gone", Median(ours.stop.middle_ns), "");
  row("  -> the whole tree gone", Median(ours.stop.tree_ns), "<= runit");
  if (runsvdir.empty()) {
    printf("| %-54s | %10s | %-10s |\n", "runit (runsvdir not in the PATH)", "-", "");
  } else {
    row("runit program killed -> replacement runs", Median(theirs.restart_ns), "");
    row("runit SIGHUP to runsvdir -> programs gone", Median(theirs.stop.programs_ns), "");
    row("  -> the whole tree gone", Median(theirs.stop.tree_ns), "");
    row("runit SIGTERM to runsvdir, each runsv -> programs gone",
        Median(theirs.stop_each.programs_ns), "");
    row("  -> the whole tree gone", Median(theirs.stop_each.tree_ns), "");
  }
  return 0;
}
