// Fault injection: SIGKILL each role of a running daemon with a worker
// pool (guardian, executor = controller, worker, the executor fork server)
// at random moments of its life (starting, running, waiting to restart,
// stopping), 120 rounds with a fixed seed (APPKIT_FAULT_SEED and
// APPKIT_FAULT_ROUNDS explore more). After every round: no process of the round survives (no
// orphan, no zombie of ours), no pid file or socket is left, and the next
// round's start on the same paths works; no cgroup of the daemon is left
// (common/process/cgroup.h; where cgroups are usable).
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "client/appkit.h"
#include "common/process/cgroup.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "proto/guardian.grpc.pb.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::ChildrenOf;
using ::appkit::testing::FileExists;
using ::appkit::testing::LinesWithPrefix;
using ::appkit::testing::ProcessAlive;
using ::appkit::testing::ReadFileOrEmpty;
using ::appkit::testing::WaitFor;
using ::appkit::testing::WaitForExit;
using Json = nlohmann::json;

constexpr int kRounds = 120;
const char* const kRoles[] = {"guardian", "executor", "worker", "executor fork server"};
const char* const kPhases[] = {"starting", "running", "waiting to restart", "stopping"};

std::string Module() { return testing::RunfilePath("testing/libtest_module.so"); }

// All pids on "<event> <pid>" lines of `path`.
std::vector<pid_t> PidsOf(const std::string& path, const std::string& event) {
  std::vector<pid_t> pids;
  for (const std::string& line : LinesWithPrefix(path, event + " ")) {
    int pid;
    if (absl::SimpleAtoi(line.substr(line.rfind(' ') + 1), &pid)) pids.push_back(pid);
  }
  return pids;
}

bool ExistsAtAll(pid_t pid) { return access(("/proc/" + std::to_string(pid)).c_str(), F_OK) == 0; }

class FaultInjectionTest : public ::testing::Test {
 protected:
  std::string File(const std::string& name) const { return dir_.File(name); }

  DaemonOptions Options() {
    Json pool = {{"events", File("pool.events")},
                 {"restart_interval_ms", 100},
                 {"stop_timeout_ms", 200},
                 {"check_interval_ms", 3600000},
                 {"workers", Json::array()}};
    pool["workers"].push_back({{"name", "w1"},
                               {"entry", Module() + ":run_until_quit"},
                               {"pid_filename", File("w1.pid")},
                               {"args", {{"events", File("w1.events")}}}});
    pool["workers"].push_back({{"name", "w2"},
                               {"entry", Module() + ":ignore_quit"},
                               {"pid_filename", File("w2.pid")},
                               {"args", {{"events", File("w2.events")}}}});
    DaemonOptions options;
    options.pid_filename = File("d.pid");
    options.daemon_entry = Module() + ":run_workers";
    options.daemon_args = *Args::FromJson(pool.dump());
    options.restart_interval = absl::Milliseconds(100);
    options.stop_timeout = absl::Seconds(2);
    options.stderr_filename = File("err.txt");
    return options;
  }

  pid_t ExecutorOf(pid_t guardian) {
    auto stub = v1::Guardian::NewStub(
        grpc::CreateChannel("unix:" + File("d.pid.sock"), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    v1::GuardianStatus status;
    if (!stub->GetStatus(&context, {}, &status).ok() || !status.executor_running()) return 0;
    return static_cast<pid_t>(status.executor().pid());
  }

  // Every process of the daemon's tree now, added to `seen`.
  void Snapshot(pid_t guardian, std::set<pid_t>& seen) {
    std::vector<pid_t> frontier = {guardian};
    while (!frontier.empty()) {
      pid_t pid = frontier.back();
      frontier.pop_back();
      if (!seen.insert(pid).second && pid != guardian) continue;
      reaper_.Track(pid);
      for (pid_t child : ChildrenOf(pid)) frontier.push_back(child);
    }
  }

  testing::TempDir dir_;
  testing::ProcessReaper reaper_;
};

TEST_F(FaultInjectionTest, SigkillAnyRoleAtAnyMomentLeavesNothingBehind) {
  // Fixed for CI; APPKIT_FAULT_SEED / APPKIT_FAULT_ROUNDS explore more.
  const char* seed_env = getenv("APPKIT_FAULT_SEED");
  const char* rounds_env = getenv("APPKIT_FAULT_ROUNDS");
  const unsigned seed = seed_env ? static_cast<unsigned>(atoll(seed_env)) : 20261126u;
  const int rounds = rounds_env ? atoi(rounds_env) : kRounds;
  std::mt19937 random(seed);
  std::map<std::string, int> counts;
  std::vector<std::string> failures;

  for (int round = 0; round < rounds; ++round) {
    for (const char* name : {"pool.events", "w1.events", "w2.events", "err.txt"}) {
      std::filesystem::remove(File(name));
    }
    const std::string role = kRoles[random() % 4];
    const std::string phase = kPhases[random() % 4];
    const int delay_ms = static_cast<int>(random() % 40);
    const int settle_ms = static_cast<int>(random() % 150);  // drawn up front: same plan each run
    const std::string label = role + " while " + phase;
    ++counts[label];
    auto fail = [&](const std::string& what) {
      failures.push_back("round " + std::to_string(round) + " (" + label + "): " + what + "\n" +
                         ReadFileOrEmpty(File("err.txt")));
    };

    DaemonStartResult start = StartDaemon(Options());
    if (start.status != DaemonRunStatus::kLaunched) {
      fail("start failed: " + start.error);
      break;  // the invariant of the previous round is broken
    }
    const pid_t guardian = *start.pid;
    std::set<pid_t> seen;
    Snapshot(guardian, seen);

    auto workers_running = [&] {
      return !PidsOf(File("w1.events"), "started").empty() &&
             !PidsOf(File("w2.events"), "started").empty();
    };
    if (phase != "starting" && !WaitFor(workers_running, absl::Seconds(5))) {
      fail("workers did not start");
    }
    if (phase == "waiting to restart") {
      // w1 exits: the controller waits 100 ms to restart it (and, for the
      // executor role, the guardian waits too once the executor is killed).
      std::vector<pid_t> w1 = PidsOf(File("w1.events"), "started");
      if (!w1.empty()) kill(w1.back(), SIGKILL);
    } else if (phase == "stopping") {
      kill(guardian, SIGTERM);  // w2 ignores quit: stopping lasts 200 ms
    }
    absl::SleepFor(absl::Milliseconds(delay_ms));  // the random moment
    Snapshot(guardian, seen);

    pid_t target = 0;
    if (role == "guardian") {
      target = guardian;
    } else if (role == "executor") {
      target = ExecutorOf(guardian);
      std::vector<pid_t> executors = PidsOf(File("pool.events"), "pool_starting");
      if (target == 0 && !executors.empty()) target = executors.back();
    } else if (role == "executor fork server") {
      // The guardian's child that is not the executor (StartDaemon started
      // it next to the guardian; the guardian replaces it when it dies).
      std::set<pid_t> executors = {ExecutorOf(guardian)};
      for (pid_t pid : PidsOf(File("pool.events"), "pool_starting")) executors.insert(pid);
      for (pid_t child : ChildrenOf(guardian)) {
        if (executors.count(child) == 0 &&
            absl::StrContains(ReadFileOrEmpty("/proc/" + std::to_string(child) + "/cmdline"),
                              "executor")) {
          target = child;
        }
      }
    } else {
      std::vector<pid_t> w2 = PidsOf(File("w2.events"), "started");
      std::vector<pid_t> w1 = PidsOf(File("w1.events"), "started");
      target = !w2.empty() ? w2.back() : (!w1.empty() ? w1.back() : 0);
    }
    if (target > 0) {
      seen.insert(target);
      kill(target, SIGKILL);
    } else {
      ++counts["(target not up yet: nothing killed)"];
    }

    // Let the survivors react (restart, clean up), then stop what is left.
    if (ProcessAlive(guardian)) {
      absl::SleepFor(absl::Milliseconds(settle_ms));
      Snapshot(guardian, seen);
      kill(guardian, SIGTERM);
      if (!WaitForExit(guardian, absl::Seconds(15))) fail("guardian did not stop");
    }
    for (const char* name : {"pool.events", "w1.events", "w2.events"}) {
      for (const std::string event : {"pool_starting", "started"}) {
        for (pid_t pid : PidsOf(File(name), event)) seen.insert(pid);
      }
    }

    // Invariants: nothing of the round is left.
    for (pid_t pid : seen) {
      if (!WaitFor([&] { return !ProcessAlive(pid); }, absl::Seconds(3))) {
        fail("process " + std::to_string(pid) +
             " survived: " + ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/cmdline"));
      }
    }
    for (pid_t pid : seen) {
      // A zombie is only acceptable while its reaper is not ours (init
      // reaps the orphaned guardian's tree).
      if (ExistsAtAll(pid) && seen.count(testing::ParentOf(pid)) != 0 &&
          !WaitFor([&] { return !ExistsAtAll(pid); }, absl::Seconds(2))) {
        fail("zombie " + std::to_string(pid) + " of our process " +
             std::to_string(testing::ParentOf(pid)));
      }
    }
    for (const char* name : {"d.pid", "d.pid.sock", "d.pid.workers.sock", "w1.pid", "w2.pid"}) {
      if (!WaitFor([&] { return !FileExists(File(name)); }, absl::Seconds(3))) {
        fail(std::string("left behind: ") + name);
      }
    }
    // The daemon's cgroup holds every other cgroup of the round.
    if (absl::StatusOr<std::string> own = OwnCgroupDir(); own.ok()) {
      const std::string cgroup = *own + "/" + DaemonCgroupName(File("d.pid"), guardian);
      if (!WaitFor([&] { return !FileExists(cgroup); }, absl::Seconds(3))) {
        fail("left behind: cgroup " + cgroup);
      }
    }
    if (failures.size() > 5) break;
  }

  printf("fault injection: %d rounds (seed %u)\n", rounds, seed);
  for (const auto& [label, count] : counts) printf("  %-40s %d\n", label.c_str(), count);
  printf("  failures: %zu\n", failures.size());
  for (const std::string& failure : failures) ADD_FAILURE() << failure;
}

}  // namespace
}  // namespace appkit
