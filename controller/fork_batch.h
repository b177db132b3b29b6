// ForkBatch: the controller's worker fork server (common/process/fork_server.h),
// driven by the controller's EventLoop, with requests batched.
//
// - Enqueue(index) asks for a fork of worker `index`; the answer comes
//   through Client::Forked on the loop thread, never from within Enqueue.
// - Up to a window of requests (kMaxWindow, less under a low fd limit) are in flight, so the server
// forks back to back
//   while the loop handles answers and prepares the next requests (a pool
//   of 1000 starts as a pipeline); the others wait, in order. A request is
//   prepared (Client::Prepare: files, channel, message) only as it enters
//   the window, so waiting requests hold no fds.
// - A server that dies, or does not answer within kAnswerTimeout, voids its
//   pending requests. It is killed and reaped through the loop; the
//   children of the voided requests (they leave at once without running)
//   are then found by a non-blocking scan of this process's children and
//   reaped as they exit; then a new server starts and the voided requests
//   are sent again, once (voided twice, a request fails).
// - Nothing waits on the loop thread: the server's socket and pidfd are
//   watched, its deadline is a loop timer.
//
// Loop thread only.
#ifndef APPKIT_CONTROLLER_FORK_BATCH_H_
#define APPKIT_CONTROLLER_FORK_BATCH_H_

#include <sys/types.h>

#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/base/unique_fd.h"
#include "common/process/event_loop.h"
#include "common/process/fork_server.h"
#include "controller/child_reaper.h"
#include "controller/worker_cgroups.h"

namespace appkit::controller {

// One fork: the request for the server and the fds to install in the child
// ({fd here, fd in the child}), in the cgroup `cgroup_fd` (-1: the
// server's). `keep` holds the fds until the request is sent.
struct ForkRequest {
  std::string message;
  std::vector<std::pair<int, int>> fds;
  int cgroup_fd = -1;
  std::vector<UniqueFd> keep;
};

class ForkBatch {
 public:
  // Requests in flight at most: enough that the server forks back to back
  // (16 left it idle between answers: a pool of 1000 took 3.1 s instead of
  // 1.9 s), fewer where the fd limit is low, since each holds its fds.
  static constexpr size_t kMaxWindow = 128;
  static size_t WindowForFdLimit(uint64_t soft_limit);
  static constexpr absl::Duration kAnswerTimeout = absl::Seconds(5);

  class Client {
   public:
    // The request for worker `index`, or why there is none (the fork then
    // fails with that error).
    virtual absl::StatusOr<ForkRequest> Prepare(int index) = 0;
    // The child's pid (a child of this thread, to reap), or why there is
    // none.
    virtual void Forked(int index, absl::StatusOr<pid_t> pid) = 0;
    // Whether `pid` is a worker the client knows (answered, not reaped).
    virtual bool IsWorker(pid_t pid) const = 0;

   protected:
    ~Client() = default;
  };

  // `cgroups` (may be null) must outlive this: the server runs in the
  // pool's cgroup, told its path.
  ForkBatch(EventLoop* loop, ChildReaper* reaper, Client* client, std::string binary,
            WorkerCgroups* cgroups, absl::Duration answer_timeout = kAnswerTimeout,
            size_t window = 0);  // 0: WindowForFdLimit of this process's limit
  ~ForkBatch();
  // The server's argv[0] (process_title.h), for servers started from now.
  void set_server_title(std::string title) { server_title_ = std::move(title); }
  ForkBatch(const ForkBatch&) = delete;
  ForkBatch& operator=(const ForkBatch&) = delete;

  // Starts the first server (FailedPrecondition naming the binary when it
  // cannot); later ones start when needed. `prestarted`, when given, is
  // that first server (controller/prestarted_server.h: our child, not yet
  // used, in the pool's cgroup when there is one).
  absl::Status Start(std::unique_ptr<ForkServer> prestarted = nullptr);
  void Enqueue(int index);
  // No more forks: the server is killed and reaped through the loop.
  void Shutdown();
  // No server, and no request waiting or in flight.
  bool idle() const { return server_ == nullptr && waiting_.empty() && voided_.empty(); }
  // The server's pid (0 when there is none), for tests and messages.
  pid_t server_pid() const { return server_ ? server_->pid() : 0; }

 private:
  struct Waiting {
    int index;
    int attempts = 0;  // voided sends so far
  };

  absl::Status StartServer(std::unique_ptr<ForkServer> prestarted = nullptr);
  void Pump();
  void SchedulePump();
  void OnAnswer(int index, int attempts, absl::StatusOr<pid_t> pid);
  void AfterAnswers();
  void KillServer();
  void OnServerExit(const ProcessExit& exit);
  void ReapStrays();

  EventLoop* const loop_;
  ChildReaper* const reaper_;
  Client* const client_;
  const std::string binary_;
  std::string server_title_;
  const std::string comm_;  // of the binary's processes (15 bytes at most)
  WorkerCgroups* const cgroups_;
  const absl::Duration answer_timeout_;
  const size_t window_;

  std::unique_ptr<ForkServer> server_;
  bool usable_ = false;         // server_ takes requests
  bool server_exited_ = false;  // reaped: its pid is not ours any more
  bool socket_watched_ = false;
  bool shutting_down_ = false;
  int servers_started_ = 0;
  // Voided requests (in order) first, then the others in order.
  std::deque<Waiting> voided_;
  std::deque<Waiting> waiting_;
  EventLoop::TimerId pump_timer_ = 0;
  EventLoop::TimerId deadline_timer_ = 0;
};

}  // namespace appkit::controller

#endif  // APPKIT_CONTROLLER_FORK_BATCH_H_
