#include "controller/debug_info.h"

#include "common/base/time_format.h"
#include "nlohmann/json.hpp"

namespace appkit::controller {
namespace {

using Json = nlohmann::ordered_json;

Json TimeOrNull(const google::protobuf::Timestamp& time, bool set) {
  if (!set) return nullptr;
  return ::appkit::FormatTime(FromProtoTime(time));
}

}  // namespace

std::string RenderDebugInfo(absl::Time updated_at, const std::vector<v1::WorkerStatus>& workers) {
  Json list = Json::array();
  for (const v1::WorkerStatus& worker : workers) {
    Json history = Json::array();
    for (const v1::ProcessRun& run : worker.history()) {
      Json entry{{"pid", run.pid()},
                 {"exitcode", run.exitcode()},
                 {"start_time", TimeOrNull(run.start_time(), run.has_start_time())},
                 {"end_time", TimeOrNull(run.end_time(), run.has_end_time())}};
      // appkit's extra key (SPEC §8), only when there is something to say.
      if (!run.error().empty()) entry["error"] = run.error();
      history.push_back(std::move(entry));
    }
    Json pid = worker.running() ? Json(worker.current().pid()) : Json(nullptr);
    list.push_back(Json{
        {"index", worker.index()},
        {"entry", worker.entry()},
        {"name", worker.name()},
        {"stdout_filename", worker.stdout_filename()},
        {"stderr_filename", worker.stderr_filename()},
        {"pid", pid},
        {"start_after", TimeOrNull(worker.start_after(), worker.has_start_after())},
        {"start_time",
         TimeOrNull(worker.current().start_time(), worker.current().has_start_time())},
        {"history", history},
    });
  }
  Json info = {{"updated_at", ::appkit::FormatTime(updated_at)}, {"worker_info_list", list}};
  return info.dump(4) + "\n";
}

}  // namespace appkit::controller
