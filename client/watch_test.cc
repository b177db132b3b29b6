// Guardian.Watch and Controller.Watch (SPEC §9) against real daemons: the
// snapshot first, the order of the events across a crash, a restart and a
// quit (executor and workers), many subscribers at once, and a subscriber
// that falls behind, cut off with RESOURCE_EXHAUSTED while supervision
// goes on.
#include <signal.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "client/testing.h"
#include "common/base/time_format.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/support/channel_arguments.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/process_helpers.h"
#include "testing/watch_client.h"

namespace appkit {
namespace {

using ::appkit::testing::TestDaemon;
using ::appkit::testing::WatchClient;
using Json = nlohmann::json;
using GuardianWatch = WatchClient<v1::GuardianEvent>;
using ControllerWatch = WatchClient<v1::ControllerEvent>;

constexpr absl::Duration kWait = absl::Seconds(20);

std::string Module() { return ::appkit::testing::RunfilePath("testing/libtest_module.so"); }

// A channel with a connection of its own (the server takes 8 streams per
// connection); `window`: a small HTTP/2 window, so a client that does not
// read stalls the server's writes soon.
std::shared_ptr<grpc::Channel> OwnChannel(const std::string& socket, int window = 0) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  if (window > 0) {
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, window);
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  }
  return grpc::CreateCustomChannel("unix:" + socket, grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<GuardianWatch> WatchGuardian(std::shared_ptr<grpc::Channel> channel,
                                             bool paused = false) {
  auto stub = std::shared_ptr<v1::Guardian::Stub>(v1::Guardian::NewStub(channel));
  return std::make_unique<GuardianWatch>(
      [stub](grpc::ClientContext* context) { return stub->Watch(context, v1::WatchRequest()); },
      paused);
}

// The kinds, without READY (which comes after STARTED once readiness is
// reported; not what these tests are about).
std::vector<v1::EventKind> Kinds(const std::vector<v1::Event>& events,
                                 const std::string& subject = "") {
  std::vector<v1::EventKind> kinds;
  for (const v1::Event& event : events) {
    if (event.kind() == v1::EVENT_KIND_READY) continue;
    if (!subject.empty() && event.subject() != subject) continue;
    kinds.push_back(event.kind());
  }
  return kinds;
}

// Every event numbered 1, 2, 3, ... in arrival order.
void ExpectNumbered(const std::vector<v1::Event>& events) {
  for (size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(events[i].sequence(), i + 1) << "event " << i << ": " << events[i].DebugString();
  }
}

size_t CountKind(const std::vector<v1::Event>& events, v1::EventKind kind) {
  size_t n = 0;
  for (const v1::Event& event : events) n += event.kind() == kind;
  return n;
}

const v1::Event* Find(const std::vector<v1::Event>& events, v1::EventKind kind,
                      const std::string& subject = "") {
  for (const v1::Event& event : events) {
    if (event.kind() == kind && (subject.empty() || event.subject() == subject)) return &event;
  }
  return nullptr;
}

TEST(GuardianWatchTest, SnapshotThenTheEventsOfACrashRestartAndQuitInOrder) {
  TestDaemon daemon;
  DaemonOptions options = daemon.Options(Module() + ":run_until_quit");
  options.restart_interval = absl::Milliseconds(100);
  ASSERT_TRUE(daemon.Start(options).ok());
  ASSERT_TRUE(daemon.WaitUntilRunning().ok());
  const pid_t first = static_cast<pid_t>(daemon.Status()->executor().pid());

  auto watch = WatchGuardian(OwnChannel(daemon.Path("daemon.pid.sock")));
  ASSERT_TRUE(watch->WaitForSnapshot(kWait));
  const v1::GuardianStatus snapshot = watch->snapshot()->snapshot();
  EXPECT_EQ(snapshot.state(), v1::GUARDIAN_STATE_RUNNING);
  EXPECT_EQ(snapshot.executor().pid(), first);
  EXPECT_EQ(snapshot.guardian_pid(), daemon.guardian_pid());
  EXPECT_TRUE(watch->events().empty());

  ASSERT_EQ(kill(first, SIGKILL), 0);
  ASSERT_TRUE(watch->WaitFor(
      [](const auto& events) { return CountKind(events, v1::EVENT_KIND_STARTED) == 1; }, kWait));
  ASSERT_TRUE(daemon.WaitUntilRunning().ok());
  ASSERT_TRUE(daemon.Stop().ok());
  std::optional<grpc::Status> end = watch->WaitForEnd(kWait);
  ASSERT_TRUE(end.has_value());
  EXPECT_TRUE(end->ok()) << end->error_message();

  const std::vector<v1::Event> events = watch->events();
  EXPECT_EQ(Kinds(events),
            (std::vector<v1::EventKind>{v1::EVENT_KIND_EXITED, v1::EVENT_KIND_RESTART_SCHEDULED,
                                        v1::EVENT_KIND_STARTED, v1::EVENT_KIND_QUIT_REQUESTED,
                                        v1::EVENT_KIND_EXITED, v1::EVENT_KIND_STOPPED}));
  ExpectNumbered(events);
  EXPECT_EQ(watch->unexpected(), 0);
  for (const v1::Event& event : events) EXPECT_EQ(event.subject(), "executor");
  const v1::Event& crash = events[0];
  EXPECT_EQ(crash.pid(), first);
  EXPECT_EQ(crash.exitcode(), -9);
  EXPECT_EQ(crash.description(), "killed by signal 9 (SIGKILL)");
  EXPECT_EQ(crash.state(), "WAITING_TO_RESTART");
  const v1::Event* scheduled = Find(events, v1::EVENT_KIND_RESTART_SCHEDULED);
  EXPECT_GE(FromProtoTime(scheduled->restart_at()), FromProtoTime(crash.time()));
  const v1::Event* started = Find(events, v1::EVENT_KIND_STARTED);
  EXPECT_GT(started->pid(), 0);
  EXPECT_NE(started->pid(), first);
  EXPECT_GE(FromProtoTime(started->time()), FromProtoTime(scheduled->restart_at()));
  const v1::Event* quit = Find(events, v1::EVENT_KIND_QUIT_REQUESTED);
  EXPECT_EQ(quit->description(), "RequestQuit over the control socket");
  EXPECT_EQ(quit->state(), "STOPPING");
  EXPECT_EQ(events.back().state(), "EXITED");
  EXPECT_TRUE(daemon.CheckNothingLeft().ok());
}

TEST(ControllerWatchTest, WorkerCrashRestartAndQuitInOrderThenTheEndOfThePool) {
  TestDaemon daemon;
  DaemonOptions options = daemon.Options(Module() + ":run_workers");
  Json pool = {{"workers", Json::array()}, {"restart_interval_ms", 100}};
  for (const char* name : {"w1", "w2"}) {
    pool["workers"].push_back({{"name", name},
                               {"entry", Module() + ":run_until_quit"},
                               {"pid_filename", daemon.Path(std::string(name) + ".pid")}});
  }
  options.daemon_args = *Args::FromJson(pool.dump());
  ASSERT_TRUE(daemon.Start(options).ok());
  auto workers = daemon.WaitForWorkers(2);
  ASSERT_TRUE(workers.ok()) << workers.status();
  const pid_t w1 = static_cast<pid_t>(workers->workers(0).current().pid());
  const pid_t w2 = static_cast<pid_t>(workers->workers(1).current().pid());

  auto stub = daemon.Controller();
  ControllerWatch watch(
      [&](grpc::ClientContext* context) { return stub->Watch(context, v1::WatchRequest()); });
  ASSERT_TRUE(watch.WaitForSnapshot(kWait));
  const v1::ListWorkersResponse snapshot = watch.snapshot()->snapshot();
  ASSERT_EQ(snapshot.workers_size(), 2);
  EXPECT_EQ(snapshot.workers(0).name(), "w1");
  EXPECT_EQ(snapshot.workers(0).state(), v1::WORKER_STATE_RUNNING);
  EXPECT_EQ(snapshot.workers(0).current().pid(), w1);

  ASSERT_EQ(kill(w1, SIGKILL), 0);
  ASSERT_TRUE(watch.WaitFor(
      [](const auto& events) { return CountKind(events, v1::EVENT_KIND_STARTED) == 1; }, kWait));
  {
    grpc::ClientContext context;
    v1::ControllerRequestQuitRequest request;
    request.set_worker_name("w2");
    v1::ControllerRequestQuitResponse response;
    ASSERT_TRUE(stub->RequestQuit(&context, request, &response).ok());
  }
  ASSERT_TRUE(watch.WaitFor(
      [](const auto& events) { return CountKind(events, v1::EVENT_KIND_STOPPED) == 1; }, kWait));
  ASSERT_TRUE(daemon.Stop().ok());
  std::optional<grpc::Status> end = watch.WaitForEnd(kWait);
  ASSERT_TRUE(end.has_value());
  EXPECT_TRUE(end->ok()) << end->error_message();

  const std::vector<v1::Event> events = watch.events();
  ExpectNumbered(events);
  EXPECT_EQ(Kinds(events, "w1"),
            (std::vector<v1::EventKind>{v1::EVENT_KIND_EXITED, v1::EVENT_KIND_RESTART_SCHEDULED,
                                        v1::EVENT_KIND_STARTED, v1::EVENT_KIND_QUIT_REQUESTED,
                                        v1::EVENT_KIND_EXITED, v1::EVENT_KIND_STOPPED}));
  EXPECT_EQ(Kinds(events, "w2"),
            (std::vector<v1::EventKind>{v1::EVENT_KIND_QUIT_REQUESTED, v1::EVENT_KIND_EXITED,
                                        v1::EVENT_KIND_STOPPED}));
  const v1::Event* crash = Find(events, v1::EVENT_KIND_EXITED, "w1");
  EXPECT_EQ(crash->pid(), w1);
  EXPECT_EQ(crash->exitcode(), -9);
  EXPECT_EQ(crash->state(), "WAITING_TO_RESTART");
  const v1::Event* stopped = Find(events, v1::EVENT_KIND_EXITED, "w2");
  EXPECT_EQ(stopped->pid(), w2);
  EXPECT_EQ(stopped->state(), "EXITED");
  // w2 was stopped before the pool was: all its events come before the pool's quit of w1.
  const v1::Event* w2_stopped = Find(events, v1::EVENT_KIND_STOPPED, "w2");
  const v1::Event* w1_quit = Find(events, v1::EVENT_KIND_QUIT_REQUESTED, "w1");
  ASSERT_NE(w2_stopped, nullptr);
  ASSERT_NE(w1_quit, nullptr);
  EXPECT_LT(w2_stopped->sequence(), w1_quit->sequence());
  EXPECT_TRUE(daemon.CheckNothingLeft().ok());
}

TEST(GuardianWatchTest, FiftySubscribersAllGetTheSameSequence) {
  TestDaemon daemon;
  DaemonOptions options = daemon.Options(Module() + ":run_until_quit");
  options.restart_interval = absl::Milliseconds(50);
  ASSERT_TRUE(daemon.Start(options).ok());
  ASSERT_TRUE(daemon.WaitUntilRunning().ok());
  const pid_t first = static_cast<pid_t>(daemon.Status()->executor().pid());

  constexpr int kSubscribers = 50;
  constexpr int kPerConnection = 5;  // the server takes 8 streams on one connection
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<GuardianWatch>> watches;
  for (int i = 0; i < kSubscribers; ++i) {
    if (i % kPerConnection == 0) channels.push_back(OwnChannel(daemon.Path("daemon.pid.sock")));
    watches.push_back(WatchGuardian(channels.back()));
  }
  for (auto& watch : watches) ASSERT_TRUE(watch->WaitForSnapshot(kWait));

  ASSERT_EQ(kill(first, SIGKILL), 0);
  for (auto& watch : watches) {
    ASSERT_TRUE(watch->WaitFor(
        [](const auto& events) { return CountKind(events, v1::EVENT_KIND_STARTED) == 1; }, kWait));
  }
  ASSERT_TRUE(daemon.Stop().ok());
  const std::vector<v1::Event> reference = watches[0]->events();
  ASSERT_GE(reference.size(), 6u);
  for (int i = 0; i < kSubscribers; ++i) {
    SCOPED_TRACE(i);
    std::optional<grpc::Status> end = watches[i]->WaitForEnd(kWait);
    ASSERT_TRUE(end.has_value());
    EXPECT_TRUE(end->ok()) << end->error_message();
    const std::vector<v1::Event> events = watches[i]->events();
    ASSERT_EQ(events.size(), reference.size());
    for (size_t k = 0; k < events.size(); ++k) {
      EXPECT_EQ(events[k].SerializeAsString(), reference[k].SerializeAsString()) << k;
    }
  }
  ExpectNumbered(reference);
  EXPECT_TRUE(daemon.CheckNothingLeft().ok());
}

// A subscriber that stops reading: its queue overflows and its stream ends
// with RESOURCE_EXHAUSTED (after what it was sent), while the executor
// keeps crashing and being restarted on time and another subscriber sees
// every event.
TEST(GuardianWatchTest, ASubscriberThatFallsBehindIsCutOffAndSupervisionGoesOn) {
  TestDaemon daemon;
  DaemonOptions options = daemon.Options(Module() + ":crash");
  options.restart_interval = absl::Milliseconds(5);
  ASSERT_TRUE(daemon.Start(options).ok());
  const std::string socket = daemon.Path("daemon.pid.sock");
  auto stuck = WatchGuardian(OwnChannel(socket, /*window=*/256), /*paused=*/true);
  auto healthy = WatchGuardian(OwnChannel(socket));
  ASSERT_TRUE(stuck->WaitForOpen(kWait));
  ASSERT_TRUE(healthy->WaitForSnapshot(kWait));

  // Enough events for the stuck one's HTTP/2 window and its queue (256).
  constexpr size_t kEvents = 1200;
  ASSERT_TRUE(healthy->WaitFor([](const auto& events) { return events.size() >= kEvents; },
                               absl::Seconds(120)))
      << healthy->events().size() << " events seen";
  stuck->Resume();
  std::optional<grpc::Status> cut = stuck->WaitForEnd(kWait);
  ASSERT_TRUE(cut.has_value());
  EXPECT_EQ(cut->error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << cut->error_message();
  EXPECT_NE(cut->error_message().find("fell behind"), std::string::npos);
  const std::vector<v1::Event> partial = stuck->events();
  EXPECT_LT(partial.size(), kEvents);
  std::cout << "the stuck subscriber got " << partial.size() << " events before the cut\n";
  ExpectNumbered(partial);  // what it got has no gap

  // Supervision went on: more restarts after the cut, each one started
  // when it was due, and the healthy subscriber saw them all in order.
  const size_t restarts_at_cut = CountKind(healthy->events(), v1::EVENT_KIND_STARTED);
  ASSERT_TRUE(healthy->WaitFor(
      [&](const auto& events) {
        return CountKind(events, v1::EVENT_KIND_STARTED) >= restarts_at_cut + 20;
      },
      kWait));
  ASSERT_TRUE(daemon.Stop().ok());
  ASSERT_TRUE(healthy->WaitForEnd(kWait).has_value());
  const std::vector<v1::Event> events = healthy->events();
  ExpectNumbered(events);
  absl::Time due = absl::InfinitePast();
  int late = 0;
  for (const v1::Event& event : events) {
    if (event.kind() == v1::EVENT_KIND_RESTART_SCHEDULED) due = FromProtoTime(event.restart_at());
    if (event.kind() == v1::EVENT_KIND_STARTED && due != absl::InfinitePast()) {
      EXPECT_GE(FromProtoTime(event.time()), due);
      // Generous: a loaded CI machine; a supervisor that waited on the
      // stuck client would be late by its whole stall.
      late += FromProtoTime(event.time()) - due > absl::Seconds(2);
    }
  }
  EXPECT_EQ(late, 0);
  EXPECT_TRUE(daemon.CheckNothingLeft().ok());
}

}  // namespace
}  // namespace appkit
