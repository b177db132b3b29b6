#include "client/ctl/ctl_commands.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "absl/strings/str_cat.h"
#include "common/base/time_format.h"
#include "common/process/pid_file.h"
#include "common/process/pidfd.h"

namespace appkit::ctl {
namespace {

int Refused(const std::string& socket, pid_t pid, const absl::Status& status) {
  fprintf(stderr,
          "socket %s refused: %s (guardian %d holds the pid file; pass --socket if the daemon "
          "uses another control socket)\n",
          socket.c_str(), std::string(status.message()).c_str(), pid);
  return kError;
}

std::string RefusedText(const std::string& socket, const absl::Status& status) {
  return absl::StrCat("socket ", socket, " refused: ", status.message());
}

// A program's sd_notify STATUS= text, for a terminal: a control
// character (a newline, an escape sequence) is shown as '?'.
std::string Printable(std::string text) {
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return text;
}

void PrintDetail(const v1::GuardianStatus& status) {
  const v1::ProcessRun& executor = status.executor();
  std::vector<std::vector<std::string>> rows = {
      {"daemon", absl::StrCat("running, ", StateName(status.state(), true),
                              status.ready() ? ", ready" : ", not ready")},
      {"guardian",
       absl::StrCat("pid ", status.guardian_pid(), ", up ", Since(status.guardian_start_time()))},
      {"entry", status.daemon_entry()},
      {"executor", status.executor_running()
                       ? absl::StrCat("pid ", executor.pid(), ", up ", Since(executor.start_time()))
                       : absl::StrCat("not running (last: ", LastExit(executor), ")")},
      {"restarts", absl::StrCat(status.restart_count())},
  };
  // What the program says of itself (sd_notify STATUS=, SPEC §10).
  if (!status.notify_status().empty())
    rows.push_back({"status", Printable(status.notify_status())});
  if (status.history_size() > 0) {
    const v1::ProcessRun& last = status.history(status.history_size() - 1);
    rows.push_back(
        {"last exit", absl::StrCat("pid ", last.pid(), " ", LastExit(last), " (at ",
                                   ::appkit::FormatTime(FromProtoTime(last.end_time())), ")")});
  }
  if (status.has_restart_at()) {
    rows.push_back({"restart at", ::appkit::FormatTime(FromProtoTime(status.restart_at()))});
  }
  if (!status.quit_reason().empty()) rows.push_back({"quit", status.quit_reason()});
  rows.push_back({"pid file", status.pid_filename()});
  rows.push_back({"socket", status.control_socket()});
  if (!status.controller_socket().empty()) {
    rows.push_back({"workers", status.controller_socket()});
  }
  PrintTable(rows);
}

}  // namespace

DaemonView Inspect(const Target& target) {
  DaemonView view;
  Running running = RunningGuardian(target.pid_filename);
  if (!running.pid) {
    view.exit_code = running.exit_code;
    view.problem = running.why;
    return view;
  }
  view.pid = running.pid;
  // The guardian keeps its snapshot file current at each transition; the
  // RPC answers when the file cannot be trusted or is not there.
  std::optional<v1::GuardianStatus> snapshot =
      ReadGuardianSnapshot(target.pid_filename, target.socket(), *running.pid);
  if (!snapshot) {
    absl::StatusOr<v1::GuardianStatus> status = GetStatus(target.socket(), *running.pid);
    if (!status.ok()) {
      view.exit_code = kError;
      view.problem = RefusedText(target.socket(), status.status());
      return view;
    }
    snapshot = std::move(*status);
  }
  // SPEC §8: 0 only when the entry runs and is ready; 4 when the daemon
  // runs but is not (starting, waiting to restart, FATAL, stopping). The
  // same from the file as from the RPC.
  view.exit_code =
      snapshot->state() == v1::GUARDIAN_STATE_RUNNING && snapshot->ready() ? kOk : kNotReady;
  view.status = std::move(*snapshot);
  return view;
}

OrderedJson StatusJson(const Target& target, const DaemonView& view, const std::string& name) {
  OrderedJson out = OrderedJson::object();
  if (!name.empty()) out["name"] = name;
  out["running"] = view.pid.has_value();
  if (view.status) {
    OrderedJson status = ProtoToJson(*view.status);
    for (auto& item : status.items()) {
      // GuardianStatus.name is empty from a guardian that does not fill it:
      // the config's name stays.
      if (item.key() == "name" && out.contains("name") && item.value() == "") continue;
      out[item.key()] = std::move(item.value());
    }
    return out;
  }
  out["pidFilename"] = target.pid_filename;
  if (view.pid) out["guardianPid"] = *view.pid;
  out[view.exit_code == kNotRunning ? "reason" : "error"] = view.problem;
  return out;
}

std::vector<std::string> DaemonHeader() {
  return {"NAME", "STATE", "PID", "UPTIME", "RESTARTS", "LAST EXIT"};
}

std::vector<std::string> DaemonRow(const std::string& name, const DaemonView& view) {
  if (!view.status) {
    const std::string state = view.exit_code == kNotRunning ? "STOPPED" : "UNKNOWN";
    return {name, state, view.pid ? absl::StrCat(*view.pid) : "-",
            "-",  "-",   view.exit_code == kNotRunning ? "-" : view.problem};
  }
  const v1::GuardianStatus& status = *view.status;
  std::string last = "-";
  if (status.history_size() > 0) last = LastExit(status.history(status.history_size() - 1));
  return {name,
          StateName(status.state(), true),
          absl::StrCat(status.guardian_pid()),
          Since(status.guardian_start_time()),
          absl::StrCat(status.restart_count()),
          last};
}

int Status(const Target& target, bool json, const std::string& name) {
  DaemonView view = Inspect(target);
  if (json && (view.status || view.exit_code == kNotRunning)) {
    PrintJson(StatusJson(target, view, name));
    return view.exit_code;
  }
  if (view.status) {
    PrintDetail(*view.status);
    return view.exit_code;
  }
  if (view.exit_code == kNotRunning) {
    fprintf(stderr, "no daemon is running for %s (%s)\n", target.pid_filename.c_str(),
            view.problem.c_str());
  } else {
    fprintf(stderr, "%s%s\n", view.problem.c_str(),
            view.pid ? absl::StrCat(" (guardian ", *view.pid,
                                    " holds the pid file; pass --socket if the daemon uses "
                                    "another control socket)")
                           .c_str()
                     : "");
  }
  return view.exit_code;
}

int Stop(const Target& target, absl::Duration timeout, const std::string& name) {
  const std::string daemon = name.empty() ? "daemon" : "daemon " + name;
  Running running = RunningGuardian(target.pid_filename);
  if (!running.pid) {
    if (running.exit_code == kError) {
      fprintf(stderr, "%s\n", running.why.c_str());
      return kError;
    }
    if (name.empty()) {
      printf("not running: no daemon for %s (%s)\n", target.pid_filename.c_str(),
             running.why.c_str());
    } else {
      printf("not running: %s (%s)\n", daemon.c_str(), running.why.c_str());
    }
    return kOk;
  }
  const pid_t pid = *running.pid;
  // Held from before the request: the wait below is for this process,
  // whatever later reuses its pid.
  UniqueFd pidfd = OpenPidfd(pid);
  if (!pidfd) {
    printf("stopped %s (guardian %d had already exited)\n", daemon.c_str(), pid);
    return kOk;
  }
  absl::Status rpc = RequestQuit(target.socket(), pid);
  if (!rpc.ok()) {
    // SIGTERM is the same request; sent only to the process the pidfd
    // holds, and only while it still is the verified holder.
    if (!PidFile::StillHeldBy(target.pid_filename, pid, "guardian")) {
      if (HasExited(pidfd.get())) {
        printf("stopped %s (guardian %d exited meanwhile)\n", daemon.c_str(), pid);
        return kOk;
      }
      fprintf(stderr,
              "socket %s refused (%s) and guardian %d no longer holds %s; nothing was "
              "signalled\n",
              target.socket().c_str(), std::string(rpc.message()).c_str(), pid,
              target.pid_filename.c_str());
      return kError;
    }
    fprintf(stderr, "socket %s refused (%s); sending SIGTERM to guardian %d\n",
            target.socket().c_str(), std::string(rpc.message()).c_str(), pid);
    if (SignalPidfd(pidfd.get(), SIGTERM) != 0 && errno != ESRCH) {
      fprintf(stderr, "cannot signal guardian %d: %s\n", pid, strerror(errno));
      return kError;
    }
  }
  absl::Time start = absl::Now();
  if (!WaitForExit(pidfd.get(), absl::Now() + timeout)) {
    fprintf(stderr, "%s (guardian %d) still running %s after the quit request\n", daemon.c_str(),
            pid, absl::FormatDuration(timeout).c_str());
    return kError;
  }
  printf("stopped %s (guardian %d) in %s\n", daemon.c_str(), pid,
         absl::FormatDuration(absl::Trunc(absl::Now() - start, absl::Milliseconds(1))).c_str());
  return kOk;
}

int Restart(const Target& target, const std::string& name) {
  const std::string daemon = name.empty() ? "daemon" : "daemon " + name;
  Running running = RunningGuardian(target.pid_filename);
  if (!running.pid) {
    fprintf(stderr, "%s: not running (%s)\n", daemon.c_str(), running.why.c_str());
    return running.exit_code;
  }
  absl::StatusOr<v1::GuardianStatus> status = RequestRestart(target.socket(), *running.pid);
  if (!status.ok()) return Refused(target.socket(), *running.pid, status.status());
  printf("restarting %s (guardian %d): the executor is stopped and started again (state now %s)\n",
         daemon.c_str(), *running.pid, StateName(status->state(), true).c_str());
  return kOk;
}

int Workers(const Target& target, bool json) {
  DaemonView view = Inspect(target);
  if (!view.status) return Status(target, false);
  absl::StatusOr<v1::ListWorkersResponse> list = ListWorkers(*view.status);
  if (!list.ok()) {
    if (absl::IsFailedPrecondition(list.status())) {
      fprintf(stderr, "%s\n", std::string(list.status().message()).c_str());
      return kError;
    }
    return Refused(view.status->controller_socket(), *view.pid, list.status());
  }
  if (json) {
    PrintProtoJson(*list);
    return kOk;
  }
  // STATUS (what a program says of itself, sd_notify STATUS=) is a last
  // column, there only when a worker says something: the columns before
  // it stay where they were.
  bool any_status = false;
  for (const v1::WorkerStatus& worker : list->workers()) {
    any_status = any_status || !worker.notify_status().empty();
  }
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "STATE", "PID", "UPTIME", "RESTARTS", "LAST EXIT"}};
  if (any_status) rows[0].push_back("STATUS");
  rows.reserve(list->workers_size() + 1);
  for (const v1::WorkerStatus& worker : list->workers()) {
    std::string last = "-";
    if (worker.history_size() > 0) last = LastExit(worker.history(worker.history_size() - 1));
    rows.push_back({worker.name(), StateName(worker.state(), false),
                    worker.running() ? absl::StrCat(worker.current().pid()) : "-",
                    worker.running() ? Since(worker.current().start_time()) : "-",
                    absl::StrCat(worker.restart_count()), last});
    if (any_status) {
      rows.back().push_back(worker.notify_status().empty() ? "-"
                                                           : Printable(worker.notify_status()));
    }
  }
  PrintTable(rows);
  return kOk;
}

int Debug(const Target& target) {
  Running running = RunningGuardian(target.pid_filename);
  if (!running.pid) return Status(target, false);
  auto snapshot = GetDebugSnapshot(target.socket(), *running.pid);
  if (!snapshot.ok()) return Refused(target.socket(), *running.pid, snapshot.status());
  OrderedJson json =
      OrderedJson::parse(snapshot->workers().json(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    printf("%s", snapshot->workers().json().c_str());
  } else {
    PrintJson(json);
  }
  return kOk;
}

}  // namespace appkit::ctl
