// OpenControlPlane in a process of its own: the real plugin is dlopened
// and serves a pool (a fake PoolControl) over a real Unix socket; a
// missing or broken plugin is an error that names it.
#include "controller/control_plane.h"
#include "common/control/event_hub.h"

#include <poll.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "common/host/host.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/controller.grpc.pb.h"
#include "testing/temp_dir.h"

namespace appkit::controller {
namespace {

class FakePool final : public PoolControl {
 public:
  v1::ListWorkersResponse ListWorkers() const override {
    v1::ListWorkersResponse response;
    response.add_workers()->set_name("w1");
    return response;
  }
  std::string DebugSnapshotJson() const override { return R"({"workers": []})"; }
  absl::Status RequestQuit(const std::string& name) override {
    quits.push_back(name);
    if (name == "nobody") return absl::NotFoundError("no worker named nobody");
    return absl::OkStatus();
  }
  // The verbs answer from another thread, as the pool's loop does.
  void StartWorker(const std::string& name, WorkerDone done) override {
    Later([name, done] {
      if (name == "nobody") return done(absl::NotFoundError("no worker named 'nobody'"));
      v1::WorkerStatus status;
      status.set_name(name);
      status.set_state(v1::WORKER_STATE_STARTING);
      done(status);
    });
  }
  void RestartWorker(const std::string&, WorkerDone done) override {
    Later([done] { done(absl::FailedPreconditionError("the worker pool is quitting")); });
  }
  void AddWorker(const v1::WorkerSpec& spec, WorkerDone done) override {
    Later([spec, done] { done(absl::AlreadyExistsError("a worker named '" + spec.name() + "'")); });
  }
  void RemoveWorker(const std::string&, std::function<void(absl::Status)> done) override {
    Later([done] { done(absl::OkStatus()); });
  }
  void RollingRestart(std::function<void(absl::StatusOr<std::vector<std::string>>)> done) override {
    Later([done] { done(std::vector<std::string>{"w1", "w2"}); });
  }
  void Later(std::function<void()> answer) { threads.emplace_back(std::move(answer)); }
  ~FakePool() {
    for (auto& thread : threads) thread.join();
  }
  mutable std::vector<std::string> quits;
  std::vector<std::thread> threads;
  v1::ListWorkersResponse Watch(std::shared_ptr<EventQueue> queue) override {
    v1::ListWorkersResponse snapshot;
    hub.Subscribe(std::move(queue), [&] { snapshot = ListWorkers(); });
    return snapshot;
  }
  EventHub hub;
};

// Calls AcceptPending whenever the socket is readable, until destroyed.
class AcceptThread {
 public:
  explicit AcceptThread(ControlPlane* plane)
      : thread_([this, plane] {
          while (!stop_) {
            pollfd pfd = {plane->fd(), POLLIN, 0};
            if (poll(&pfd, 1, 20) > 0) plane->AcceptPending();
          }
        }) {}
  ~AcceptThread() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string PluginInRunfiles() {
  return std::string(getenv("TEST_SRCDIR")) + "/appkit/controller/" + kControlPlanePlugin;
}

// One test: the plugin, once loaded, stays loaded for the process.
TEST(ControlPlaneTest, NamesAMissingOrBrokenPluginThenServesWithTheRealOne) {
  testing::TempDir dir;
  FakePool pool;

  internal::SetAppkitBinaryOverride(kControlPlanePlugin, dir.File("missing.so"));
  auto missing = OpenControlPlane(&pool, dir.File("c.sock"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(missing.status().message().find(dir.File("missing.so")), std::string::npos)
      << missing.status();

  std::ofstream(dir.File("broken.so")) << "not an ELF file";
  internal::SetAppkitBinaryOverride(kControlPlanePlugin, dir.File("broken.so"));
  auto broken = OpenControlPlane(&pool, dir.File("c.sock"));
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.status().message().find("cannot load the control-plane plugin"),
            std::string::npos)
      << broken.status();
  EXPECT_EQ(LoadControlPlanePlugin().code(), absl::StatusCode::kFailedPrecondition);

  internal::SetAppkitBinaryOverride(kControlPlanePlugin, PluginInRunfiles());
  // A listen error keeps its code and names the path.
  auto too_long = OpenControlPlane(&pool, dir.File(std::string(120, 'x')));
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.status().code(), absl::StatusCode::kInvalidArgument) << too_long.status();

  const std::string socket = dir.File("c.sock");
  auto plane = OpenControlPlane(&pool, socket);
  ASSERT_TRUE(plane.ok()) << plane.status();
  EXPECT_TRUE(LoadControlPlanePlugin().ok());
  struct stat st;
  ASSERT_EQ(stat(socket.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  {
    AcceptThread accept(plane->get());
    auto stub = v1::Controller::NewStub(
        grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));
    auto deadline = [] {
      auto context = std::make_unique<grpc::ClientContext>();
      context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      return context;
    };
    v1::ListWorkersResponse list;
    grpc::Status status = stub->ListWorkers(deadline().get(), v1::ListWorkersRequest(), &list);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(list.workers_size(), 1);
    EXPECT_EQ(list.workers(0).name(), "w1");

    v1::ControllerRequestQuitRequest quit;
    quit.set_worker_name("nobody");
    v1::ControllerRequestQuitResponse quit_response;
    status = stub->RequestQuit(deadline().get(), quit, &quit_response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(status.error_message(), "no worker named nobody");

    v1::DebugSnapshot snapshot;
    status = stub->GetDebugSnapshot(deadline().get(), v1::GetDebugSnapshotRequest(), &snapshot);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(snapshot.json(), R"({"workers": []})");

    // The worker verbs: answered when the pool calls back, with its code.
    v1::WorkerRequest request;
    request.set_worker_name("w1");
    v1::WorkerResponse response;
    status = stub->StartWorker(deadline().get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.worker().name(), "w1");
    request.set_worker_name("nobody");
    status = stub->StartWorker(deadline().get(), request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(status.error_message(), "no worker named 'nobody'");
    status = stub->RestartWorker(deadline().get(), request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    v1::AddWorkerRequest add;
    add.mutable_spec()->set_name("w1");
    status = stub->AddWorker(deadline().get(), add, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
    v1::RemoveWorkerResponse removed;
    EXPECT_TRUE(stub->RemoveWorker(deadline().get(), request, &removed).ok());
    v1::RollingRestartResponse rolled;
    status = stub->RollingRestart(deadline().get(), v1::RollingRestartRequest(), &rolled);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(rolled.restarted_size(), 2);
    // Watch: the snapshot, the events the pool (this binary) publishes,
    // then the end of the stream when the pool closes it.
    auto watch_context = deadline();
    auto watch = stub->Watch(watch_context.get(), v1::WatchRequest());
    v1::ControllerEvent message;
    ASSERT_TRUE(watch->Read(&message));
    ASSERT_TRUE(message.has_snapshot());
    EXPECT_EQ(message.snapshot().workers(0).name(), "w1");
    pool.hub.Publish([] {
      v1::Event started;
      started.set_kind(v1::EVENT_KIND_STARTED);
      started.set_subject("w1");
      return std::vector<v1::Event>{started, started};
    });
    for (uint64_t sequence : {1, 2}) {
      ASSERT_TRUE(watch->Read(&message));
      ASSERT_TRUE(message.has_event());
      EXPECT_EQ(message.event().kind(), v1::EVENT_KIND_STARTED);
      EXPECT_EQ(message.event().sequence(), sequence);
    }
    pool.hub.Close();
    EXPECT_FALSE(watch->Read(&message));
    status = watch->Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_EQ(pool.quits, std::vector<std::string>{"nobody"});
  plane->reset();
  EXPECT_NE(stat(socket.c_str(), &st), 0) << "the socket is unlinked when the plane goes";
}

}  // namespace
}  // namespace appkit::controller
