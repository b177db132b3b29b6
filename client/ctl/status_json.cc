#include "client/ctl/status_json.h"

#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/time_util.h"
#include "proto/process.pb.h"

namespace appkit::ctl {
namespace {

using google::protobuf::util::TimeUtil;

template <typename Enum>
void EnumValue(Enum value, JsonSink& sink) {
  const char* name = EnumName(value);
  if (name == nullptr) return sink.Int(value);
  sink.String(name);
}

void Time(const char* key, bool has, const google::protobuf::Timestamp& time, JsonSink& sink) {
  if (!has) return;
  sink.Key(key);
  sink.String(TimeUtil::ToString(time));
}

void Write(const v1::ProcessRun& run, JsonSink& sink) {
  sink.BeginObject();
  sink.Key("pid").Int(run.pid());
  sink.Key("exitcode").Int(run.exitcode());
  sink.Key("description").String(run.description());
  sink.Key("error").String(run.error());
  Time("startTime", run.has_start_time(), run.start_time(), sink);
  Time("endTime", run.has_end_time(), run.end_time(), sink);
  sink.EndObject();
}

void Runs(const google::protobuf::RepeatedPtrField<v1::ProcessRun>& runs, JsonSink& sink) {
  sink.BeginArray();
  for (const v1::ProcessRun& run : runs) Write(run, sink);
  sink.EndArray();
}

void Write(const v1::WorkerStatus& worker, JsonSink& sink) {
  sink.BeginObject();
  sink.Key("index").Int(worker.index());
  sink.Key("name").String(worker.name());
  sink.Key("entry").String(worker.entry());
  sink.Key("state");
  EnumValue(worker.state(), sink);
  if (worker.has_current()) {
    sink.Key("current");
    Write(worker.current(), sink);
  }
  sink.Key("running").Bool(worker.running());
  sink.Key("restartCount").Int(worker.restart_count());
  sink.Key("history");
  Runs(worker.history(), sink);
  sink.Key("pidFilename").String(worker.pid_filename());
  sink.Key("stdoutFilename").String(worker.stdout_filename());
  sink.Key("stderrFilename").String(worker.stderr_filename());
  sink.Key("ready").Bool(worker.ready());
  sink.Key("consecutiveFailures").Int(worker.consecutive_failures());
  sink.Key("notifyStatus").String(worker.notify_status());
  Time("startAfter", worker.has_start_after(), worker.start_after(), sink);
  Time("killAt", worker.has_kill_at(), worker.kill_at(), sink);
  sink.EndObject();
}

void Write(const v1::ListWorkersResponse& list, JsonSink& sink) {
  sink.BeginObject();
  sink.Key("controllerPid").Int(list.controller_pid());
  sink.Key("workers").BeginArray();
  for (const v1::WorkerStatus& worker : list.workers()) Write(worker, sink);
  sink.EndArray();
  sink.Key("quitRequested").Bool(list.quit_requested());
  sink.EndObject();
}

void Write(const v1::GuardianStatus& status, JsonSink& sink) {
  sink.BeginObject();
  sink.Key("guardianPid").Int(status.guardian_pid());
  sink.Key("state");
  EnumValue(status.state(), sink);
  sink.Key("daemonEntry").String(status.daemon_entry());
  sink.Key("pidFilename").String(status.pid_filename());
  sink.Key("controlSocket").String(status.control_socket());
  if (status.has_executor()) {
    sink.Key("executor");
    Write(status.executor(), sink);
  }
  sink.Key("executorRunning").Bool(status.executor_running());
  sink.Key("restartCount").Int(status.restart_count());
  sink.Key("history");
  Runs(status.history(), sink);
  sink.Key("quitReason").String(status.quit_reason());
  sink.Key("controllerSocket").String(status.controller_socket());
  sink.Key("controlPlanePlugin").String(status.control_plane_plugin());
  sink.Key("name").String(status.name());
  sink.Key("ready").Bool(status.ready());
  sink.Key("consecutiveFailures").Int(status.consecutive_failures());
  sink.Key("notifyStatus").String(status.notify_status());
  Time("guardianStartTime", status.has_guardian_start_time(), status.guardian_start_time(), sink);
  if (status.has_restart_interval()) {
    sink.Key("restartInterval").String(TimeUtil::ToString(status.restart_interval()));
  }
  Time("restartAt", status.has_restart_at(), status.restart_at(), sink);
  Time("killAt", status.has_kill_at(), status.kill_at(), sink);
  sink.EndObject();
}

template <typename Type>
bool WriteIf(const google::protobuf::Message& message, JsonSink& sink) {
  const Type* typed = dynamic_cast<const Type*>(&message);
  if (typed == nullptr) return false;
  Write(*typed, sink);
  return true;
}

}  // namespace

bool WriteStatusJson(const google::protobuf::Message& message, JsonSink& sink) {
  return WriteIf<v1::ListWorkersResponse>(message, sink) ||
         WriteIf<v1::WorkerStatus>(message, sink) || WriteIf<v1::ProcessRun>(message, sink) ||
         WriteIf<v1::GuardianStatus>(message, sink);
}

const char* EnumName(v1::GuardianState state) {
  switch (state) {
    case v1::GUARDIAN_STATE_UNSPECIFIED:
      return "GUARDIAN_STATE_UNSPECIFIED";
    case v1::GUARDIAN_STATE_STARTING:
      return "GUARDIAN_STATE_STARTING";
    case v1::GUARDIAN_STATE_RUNNING:
      return "GUARDIAN_STATE_RUNNING";
    case v1::GUARDIAN_STATE_WAITING_TO_RESTART:
      return "GUARDIAN_STATE_WAITING_TO_RESTART";
    case v1::GUARDIAN_STATE_STOPPING:
      return "GUARDIAN_STATE_STOPPING";
    case v1::GUARDIAN_STATE_EXITED:
      return "GUARDIAN_STATE_EXITED";
    case v1::GUARDIAN_STATE_FATAL:
      return "GUARDIAN_STATE_FATAL";
    default:  // a number from a newer guardian; the sentinels protoc adds
      return nullptr;
  }
}

const char* EnumName(v1::WorkerState state) {
  switch (state) {
    case v1::WORKER_STATE_UNSPECIFIED:
      return "WORKER_STATE_UNSPECIFIED";
    case v1::WORKER_STATE_STARTING:
      return "WORKER_STATE_STARTING";
    case v1::WORKER_STATE_RUNNING:
      return "WORKER_STATE_RUNNING";
    case v1::WORKER_STATE_WAITING_TO_RESTART:
      return "WORKER_STATE_WAITING_TO_RESTART";
    case v1::WORKER_STATE_STOPPING:
      return "WORKER_STATE_STOPPING";
    case v1::WORKER_STATE_EXITED:
      return "WORKER_STATE_EXITED";
    case v1::WORKER_STATE_FATAL:
      return "WORKER_STATE_FATAL";
    default:
      return nullptr;
  }
}

}  // namespace appkit::ctl
