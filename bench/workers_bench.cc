// Worker pool benchmark: prints a table of how fast and lean StartWorkers'
// controller and workers are (SPEC targets in the right column).
//
//   ./bazelw run //bench:workers_bench [-- <pool size, default 1000>]
//
// Numbers, not asserts. Each pool runs inside a real daemon (guardian,
// executor = controller) started through StartDaemon.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "client/appkit.h"
#include "grpcpp/create_channel.h"
#include "proto/controller.grpc.pb.h"

using namespace appkit::bench;  // NOLINT: the helpers of bench_util.h

namespace {

struct Pool {
  pid_t guardian = 0;
  pid_t controller = 0;  // the executor
  int64_t pool_ns = 0;   // just before StartWorkers
};

// Worker pid files go to `pid_dir` (default: the bench's dir).
Pool StartPool(const std::string& dir, const std::string& name, int count, const std::string& entry,
               std::optional<int> restart_ms, std::string pid_dir = "") {
  const std::string events = dir + "/" + name + ".events";
  if (pid_dir.empty()) pid_dir = dir + "/" + name;
  std::filesystem::create_directories(pid_dir);
  appkit::DaemonOptions options;
  options.pid_filename = dir + "/" + name + ".pid";
  options.daemon_entry = Module() + ":run_pool";
  options.daemon_args.Set("events", events)
      .Set("count", count)
      .Set("entry", entry)
      .Set("dir", pid_dir);
  if (restart_ms) options.daemon_args.Set("restart_interval_ms", *restart_ms);
  options.stderr_filename = dir + "/" + name + ".err";
  appkit::DaemonStartResult result = appkit::StartDaemon(options);
  if (result.status != appkit::DaemonRunStatus::kLaunched) {
    fprintf(stderr, "launch failed: %s\n", result.error.c_str());
    exit(1);
  }
  Pool pool;
  pool.guardian = *result.pid;
  std::vector<Mark> marks;
  WaitFor([&] { return !(marks = ReadMarks(events)).empty(); }, absl::Seconds(10));
  pool.controller = marks.at(0).pid;
  pool.pool_ns = marks.at(0).ns;
  return pool;
}

void StopPool(const Pool& pool) {
  kill(pool.guardian, SIGTERM);
  WaitExit(pool.guardian, 30000);
}

std::vector<Mark> WaitMarks(const std::string& path, size_t count, absl::Duration timeout) {
  std::vector<Mark> marks;
  WaitFor([&] { return (marks = ReadMarks(path)).size() >= count; }, timeout);
  return marks;
}

}  // namespace

int main(int argc, char** argv) {
  const int count = argc > 1 ? atoi(argv[1]) : 1000;
  const int rounds = 41;
  char templ[] = "/tmp/appkit-wbench-XXXXXX";
  const std::string dir = mkdtemp(templ);

  // 1. Worker exit -> replacement's entry runs, restart_interval = 0.
  std::vector<double> restart_ns;
  {
    Pool pool = StartPool(dir, "restart", 1, "mark_and_fail", 0);
    // marks: pool, start, exit, start, exit, ...
    std::vector<Mark> marks = WaitMarks(dir + "/restart.events", 2 * rounds + 3, absl::Seconds(60));
    StopPool(pool);
    for (size_t i = 2; i + 1 < marks.size(); i += 2) {
      restart_ns.push_back(static_cast<double>(marks[i + 1].ns - marks[i].ns));
    }
  }

  // 2. `count` workers: all running, controller memory, quit-all. Worker
  // pid files on tmpfs, where /run lives on a normal machine, then on the
  // bench's own filesystem (/tmp): creating 1000 inodes on a busy ext4 is
  // much of the cost there.
  struct BigRun {
    double all_running_ns = -1, quit_all_ns = -1;
    long controller_rss = -1, controller_pss = -1, worker_rss = -1, worker_pss = -1;
    size_t started = 0;
  };
  auto run_big = [&](const std::string& name, const std::string& pid_dir) {
    BigRun run;
    Pool pool = StartPool(dir, name, count, "mark_and_wait", std::nullopt, pid_dir);
    std::vector<Mark> marks =
        WaitMarks(dir + "/" + name + ".events", count + 1, absl::Seconds(120));
    std::vector<pid_t> workers;
    int64_t last = 0;
    for (const Mark& mark : marks) {
      if (mark.event != "start") continue;
      workers.push_back(mark.pid);
      last = std::max(last, mark.ns);
    }
    run.started = workers.size();
    run.all_running_ns = static_cast<double>(last - pool.pool_ns);
    absl::SleepFor(absl::Milliseconds(300));  // let the debug writes settle
    run.controller_rss = StatusKb(pool.controller, "VmRSS");
    run.controller_pss = PssKb(pool.controller);
    if (!workers.empty()) {
      run.worker_rss = StatusKb(workers[0], "VmRSS");
      run.worker_pss = PssKb(workers[0]);
    }
    auto stub = appkit::v1::Controller::NewStub(grpc::CreateChannel(
        "unix:" + dir + "/" + name + ".pid.workers.sock", grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    appkit::v1::ControllerRequestQuitResponse response;
    int64_t t0 = NowNs();
    grpc::Status rpc = stub->RequestQuit(&context, {}, &response);
    if (!rpc.ok()) fprintf(stderr, "RequestQuit: %s\n", rpc.error_message().c_str());
    if (!rpc.ok()) kill(pool.controller, SIGTERM);
    for (pid_t worker : workers) WaitExit(worker, 30000);
    run.quit_all_ns = static_cast<double>(NowNs() - t0);
    StopPool(pool);
    return run;
  };
  std::string tmpfs_dir;
  char shm_templ[] = "/dev/shm/appkit-wbench-XXXXXX";
  if (mkdtemp(shm_templ) != nullptr) tmpfs_dir = shm_templ;
  BigRun big = run_big("big", tmpfs_dir.empty() ? "" : tmpfs_dir + "/pids");
  BigRun big_disk = run_big("bigdisk", "");
  if (!tmpfs_dir.empty()) std::filesystem::remove_all(tmpfs_dir);

  // 3. Idle controller with 100 sleeping workers.
  long idle_cs = 0;
  double idle_cpu = 0;
  int idle_threads = 0;
  {
    Pool pool = StartPool(dir, "idle", 100, "mark_and_wait", 1000);
    WaitMarks(dir + "/idle.events", 101, absl::Seconds(30));
    absl::SleepFor(absl::Milliseconds(300));
    long cs0 = ContextSwitches(pool.controller);
    double cpu0 = CpuSeconds(pool.controller);
    absl::SleepFor(absl::Seconds(10));
    idle_cs = ContextSwitches(pool.controller) - cs0;
    idle_cpu = CpuSeconds(pool.controller) - cpu0;
    idle_threads = Threads(pool.controller);
    StopPool(pool);
  }
  std::filesystem::remove_all(dir);

  printf("appkit worker pool benchmark (%d workers; restart: median of %zu)\n\n", count,
         restart_ns.size());
  printf("| %-44s | %14s | %-12s |\n", "metric", "value", "target");
  printf("|%s|%s|%s|\n", std::string(46, '-').c_str(), std::string(16, '-').c_str(),
         std::string(14, '-').c_str());
  char buf[64];
  Row("worker exit -> new entry runs (interval 0)", Ms(Median(restart_ns)), "<= 5 ms");
  snprintf(buf, sizeof(buf), "%zu / %d", big.started, count);
  Row("workers started", buf, "");
  Row("StartWorkers -> every entry running", Ms(big.all_running_ns), "<= 2000 ms");
  Row("  same, pid files on the bench's disk (/tmp)", Ms(big_disk.all_running_ns), "");
  snprintf(buf, sizeof(buf), "%.1f MB", big.controller_rss / 1024.0);
  Row("controller RSS with the pool", buf, "<= 20 MB");
  snprintf(buf, sizeof(buf), "%.1f MB", big.controller_pss / 1024.0);
  Row("controller Pss with the pool", buf, "");
  snprintf(buf, sizeof(buf), "%.1f / %.1f MB", big.worker_rss / 1024.0, big.worker_pss / 1024.0);
  Row("one worker RSS / Pss", buf, "");
  Row("RequestQuit(all) -> every worker gone", Ms(big.quit_all_ns), "<= 1000 ms");
  Row("  same, pid files on /tmp", Ms(big_disk.quit_all_ns), "");
  snprintf(buf, sizeof(buf), "%.1f /s", idle_cs / 10.0);
  Row("idle controller wake-ups, 100 workers (10 s)", buf, "");
  snprintf(buf, sizeof(buf), "%.3f s", idle_cpu);
  Row("idle controller CPU time (10 s)", buf, "");
  snprintf(buf, sizeof(buf), "%d", idle_threads);
  Row("idle controller threads", buf, "");
  return 0;
}
