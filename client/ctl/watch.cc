#include "client/ctl/watch.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/ctl/ctl_output.h"
#include "common/base/time_format.h"
#include "common/base/unique_fd.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "proto/controller.grpc.pb.h"
#include "proto/guardian.grpc.pb.h"

namespace appkit::ctl {
namespace {

std::string Time(const google::protobuf::Timestamp& time) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E3S", FromProtoTime(time), absl::UTCTimeZone());
}

std::string Pad(const std::string& text, size_t width) {
  return text.size() >= width ? text : text + std::string(width - text.size(), ' ');
}

std::string Line(const google::protobuf::Timestamp& time, const std::string& subject,
                 const std::string& kind, const std::string& state, int64_t pid,
                 const std::string& description, const std::string& error) {
  std::string what = description;
  if (!error.empty() && error != description) {
    what = what.empty() ? error : absl::StrCat(what, ": ", error);
  }
  std::string line = absl::StrCat(Time(time), "  ", Pad(subject, 10), "  ", Pad(kind, 17), "  ",
                                  Pad(state, 18), "  ", Pad(pid != 0 ? absl::StrCat(pid) : "-", 8));
  if (!what.empty()) absl::StrAppend(&line, "  ", what);
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

google::protobuf::Timestamp Now() { return ToProtoTime(absl::Now()); }

// stdout, shared by the streams' threads: whole lines, flushed.
class Printer {
 public:
  void Print(const std::string& line) {
    absl::MutexLock lock(&mu_);
    fwrite(line.data(), 1, line.size(), stdout);
    fputc('\n', stdout);
    fflush(stdout);
  }

 private:
  absl::Mutex mu_;
};

// One stream, read on its own thread; `done` (an eventfd) is written when
// it ends.
struct Stream {
  std::string name;  // "daemon" or "workers"
  grpc::ClientContext context;
  std::thread thread;
  absl::Mutex mu;
  std::optional<grpc::Status> status ABSL_GUARDED_BY(mu);
};

template <typename Message, typename Stub>
void Follow(Stub* stub, Stream* stream, Printer* printer, bool json, int done,
            void (*print)(const Message&, Printer*)) {
  auto reader = stub->Watch(&stream->context, v1::WatchRequest());
  Message message;
  while (reader->Read(&message)) {
    if (json) {
      OrderedJson line;
      line["stream"] = stream->name;
      OrderedJson fields = ProtoToJson(message);
      for (auto& item : fields.items()) line[item.key()] = item.value();
      printer->Print(line.dump());
    } else {
      print(message, printer);
    }
  }
  grpc::Status status = reader->Finish();
  {
    absl::MutexLock lock(&stream->mu);
    stream->status = status;
  }
  const uint64_t one = 1;
  (void)!write(done, &one, sizeof(one));
}

void PrintGuardian(const v1::GuardianEvent& message, Printer* printer) {
  printer->Print(message.has_snapshot() ? SnapshotLine(message.snapshot())
                                        : EventLine(message.event()));
}

void PrintController(const v1::ControllerEvent& message, Printer* printer) {
  if (message.has_event()) {
    printer->Print(EventLine(message.event()));
    return;
  }
  for (const v1::WorkerStatus& worker : message.snapshot().workers()) {
    printer->Print(WorkerSnapshotLine(worker));
  }
}

std::optional<grpc::Status> Ended(Stream& stream) {
  absl::MutexLock lock(&stream.mu);
  return stream.status;
}

int Fail(const std::string& why, int code) {
  fprintf(stderr, "appkitctl watch: %s\n", why.c_str());
  return code;
}

// What the end of the daemon's stream means.
int DaemonStreamEnded(const grpc::Status& status, const Target& target) {
  if (status.ok()) return kOk;  // the daemon stopped
  if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
    return Fail(absl::StrCat("the daemon cut this watcher: ", status.error_message()), kError);
  }
  return Fail(absl::StrCat("lost the daemon (", target.pid_filename, "): ", status.error_message(),
                           "; ", WhyNotRunning(target.pid_filename)),
              kError);
}

}  // namespace

std::string EventLine(const v1::Event& event) {
  return Line(event.time(), event.subject(),
              std::string(absl::StripPrefix(v1::EventKind_Name(event.kind()), "EVENT_KIND_")),
              event.state(), event.pid(), event.description(), event.error());
}

std::string SnapshotLine(const v1::GuardianStatus& status) {
  const v1::ProcessRun& run = status.executor();
  return Line(Now(), "executor", "SNAPSHOT", StateName(status.state(), true),
              status.executor_running() ? run.pid() : 0, run.pid() != 0 ? run.description() : "",
              run.error());
}

std::string WorkerSnapshotLine(const v1::WorkerStatus& worker) {
  const v1::ProcessRun& run = worker.current();
  return Line(Now(), worker.name(), "SNAPSHOT", StateName(worker.state(), false),
              worker.running() ? run.pid() : 0, run.pid() != 0 ? run.description() : "",
              run.error());
}

int Watch(const Target& target, bool json, bool workers) {
  // SIGINT and SIGTERM end the watch cleanly: blocked here, before any
  // gRPC thread exists (they inherit the mask), and read from a signalfd.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  UniqueFd signal_fd(signalfd(-1, &signals, SFD_CLOEXEC));
  UniqueFd done(eventfd(0, EFD_CLOEXEC));
  if (!signal_fd || !done) return Fail("cannot create a signalfd or an eventfd", kError);

  Running running = RunningGuardian(target.pid_filename);
  if (!running.pid) {
    return Fail(absl::StrCat("daemon not running (", target.pid_filename, "): ", running.why),
                running.exit_code);
  }
  auto channel = VerifiedChannel(target.socket(), *running.pid);
  if (!channel.ok()) return Fail(std::string(channel.status().message()), kError);
  auto guardian = v1::Guardian::NewStub(*channel);

  std::unique_ptr<v1::Controller::Stub> controller;
  if (workers) {
    auto status = GetStatus(target.socket(), *running.pid);
    if (!status.ok()) return Fail(std::string(status.status().message()), kError);
    if (status->controller_socket().empty()) {
      return Fail(absl::StrCat("daemon (guardian ", *running.pid,
                               ") runs no worker pool with a control socket; watch it without "
                               "--workers"),
                  kError);
    }
    auto pool =
        VerifiedChannel(status->controller_socket(), static_cast<pid_t>(status->executor().pid()));
    if (!pool.ok()) return Fail(std::string(pool.status().message()), kError);
    controller = v1::Controller::NewStub(*pool);
  }

  Printer printer;
  Stream daemon_stream;
  daemon_stream.name = "daemon";
  Stream pool_stream;
  pool_stream.name = "workers";
  daemon_stream.thread = std::thread([&] {
    Follow<v1::GuardianEvent>(guardian.get(), &daemon_stream, &printer, json, done.get(),
                              &PrintGuardian);
  });
  if (controller) {
    pool_stream.thread = std::thread([&] {
      Follow<v1::ControllerEvent>(controller.get(), &pool_stream, &printer, json, done.get(),
                                  &PrintController);
    });
  }

  int code = kOk;
  bool pool_said = false;
  for (;;) {
    pollfd fds[2] = {{signal_fd.get(), POLLIN, 0}, {done.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;  // EINTR
    if (fds[0].revents & POLLIN) break;  // SIGINT, SIGTERM: a clean end
    uint64_t count;
    (void)!read(done.get(), &count, sizeof(count));
    if (std::optional<grpc::Status> status = Ended(daemon_stream)) {
      code = DaemonStreamEnded(*status, target);
      break;
    }
    std::optional<grpc::Status> pool = controller ? Ended(pool_stream) : std::nullopt;
    if (pool && !pool_said) {
      pool_said = true;
      if (pool->error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
        code = Fail(absl::StrCat("the pool cut this watcher: ", pool->error_message()), kError);
        break;
      }
      fprintf(stderr,
              "appkitctl watch: the worker pool's stream ended (%s); following the daemon\n",
              pool->ok() ? "the pool stopped" : pool->error_message().c_str());
    }
  }
  daemon_stream.context.TryCancel();
  pool_stream.context.TryCancel();
  daemon_stream.thread.join();
  if (pool_stream.thread.joinable()) pool_stream.thread.join();
  return code;
}

}  // namespace appkit::ctl
