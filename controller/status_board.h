// StatusBoard: the snapshot of the workers that the Controller service's
// RPCs read, on gRPC's threads. The loop thread publishes each worker's
// record as it changes: its view (status_view.h) is built there, outside
// the lock, and swapped in (O(1) in the pool's size); also the quit flag,
// and the debug JSON as DebugFile renders it. Readers copy the views
// under the lock. Each published change also goes, as the events it
// means (controller/watch_events.h), to the Controller.Watch subscribers,
// in the same critical section as the swap (common/control/event_hub.h).
#ifndef APPKIT_CONTROLLER_STATUS_BOARD_H_
#define APPKIT_CONTROLLER_STATUS_BOARD_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/control/event_hub.h"
#include "common/control/event_queue.h"
#include "controller/status_view.h"
#include "controller/worker_machine.h"
#include "proto/controller.pb.h"

namespace appkit::controller {

class StatusBoard {
 public:
  explicit StatusBoard(std::vector<WorkerInfo> infos);

  // The loop thread.
  void Publish(int index, const WorkerRecord& record);
  // AddWorker: a new worker (STARTING until published), WORKER_ADDED to
  // the watchers; RemoveWorker: it is forgotten, WORKER_REMOVED.
  void Add(WorkerInfo info);
  void Remove(int index);
  void PublishQuitRequested();
  // What a worker's process said on NOTIFY_SOCKET (SPEC §10): an event of
  // `kind` (STATUS, STOPPING) with `text`; STATUS also sets the worker's
  // notify_status, kept until its next process.
  void PublishNotice(int index, v1::EventKind kind, const std::string& text);
  void PublishDebugJson(std::string json);
  // The status file's content (common/base/status_file.h): ListWorkers(),
  // serialized, assembled from each worker's bytes kept at its Publish (a
  // pool's transition costs one worker's serialization, not the pool's);
  // nullopt when nothing was published since the last call.
  std::optional<std::string> TakeStatusFileContent();
  // Ends every Watch stream (the pool is done).
  void CloseWatchers();
  // After CloseWatchers: EventHub::AwaitClosedStreams.
  bool AwaitClosedWatchers(absl::Duration limit) { return hub_.AwaitClosedStreams(limit); }

  // Any thread.
  v1::ListWorkersResponse ListWorkers() const;
  // Subscribes `queue` to the events; returns the snapshot they follow.
  v1::ListWorkersResponse Watch(std::shared_ptr<EventQueue> queue);
  std::string DebugJson() const;
  bool HasWorker(const std::string& name) const;
  // The debug JSON of the records published so far, as of `now`.
  std::string RenderDebugJson(absl::Time now) const;

 private:
  std::map<int, WorkerInfo> infos_;  // by index; the loop thread's
  EventHub hub_;                     // taken before mu_
  mutable absl::Mutex mu_;
  std::map<int, v1::WorkerStatus> statuses_ ABSL_GUARDED_BY(mu_);  // by index
  bool quit_requested_ ABSL_GUARDED_BY(mu_) = false;
  std::string debug_json_ ABSL_GUARDED_BY(mu_);
  // The loop thread only: each worker's WorkerStatus, serialized.
  std::map<int, std::string> serialized_;  // by index
  bool quit_for_file_ = false;
  bool file_changed_ = true;
};

}  // namespace appkit::controller

#endif  // APPKIT_CONTROLLER_STATUS_BOARD_H_
