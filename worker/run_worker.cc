#include "worker/run_worker.h"
#include "common/base/log.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/appkit.h"
#include "common/base/fd_io.h"
#include "common/host/command_launch.h"
#include "common/host/entry.h"
#include "common/host/host.h"
#include "common/host/supervisor_report.h"
#include "common/process/command.h"
#include "common/process/pid_file.h"
#include "proto/wire.h"
#include "spdlog/spdlog.h"

namespace appkit::worker {
namespace {

// The pid file, shared by the main thread (creates and removes it) and
// the channel thread (writes it again on "p").
struct PidFileHolder {
  std::mutex mu;
  std::unique_ptr<PidFile> file;
  std::string path;
  bool done = false;
};

absl::Status AcquirePidFile(PidFileHolder& holder) {
  auto acquired = PidFile::Acquire(holder.path, getpid(), "worker");
  if (!acquired.ok()) return acquired.status();
  if (acquired->running_pid != 0) {
    return absl::AlreadyExistsError(absl::StrCat(
        "pid file ", holder.path, " is held by running process ", acquired->running_pid));
  }
  holder.file = std::move(acquired->file);
  return absl::OkStatus();
}

void Send(wire::Message message) {
  const char byte = static_cast<char>(message);
  (void)!send(wire::kWorkerChannelFd, &byte, 1, MSG_NOSIGNAL);
}

// Reads the controller's requests until EOF; never returns before that.
void ServeChannel(PidFileHolder* holder, std::string name) {
  for (;;) {
    char byte;
    ssize_t n = recv(wire::kWorkerChannelFd, &byte, 1, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (!QuitRequested()) Log().warn("worker {}: controller gone; quitting", name);
      internal::RequestQuit();
      return;
    }
    const auto request = static_cast<wire::Message>(byte);
    if (request == wire::Message::kPing) {
      Send(wire::Message::kPong);
    } else if (request == wire::Message::kQuit) {
      Log().info("worker {}: quit requested by the controller", name);
      internal::RequestQuit();
    } else if (request == wire::Message::kRewritePidFile) {
      std::lock_guard<std::mutex> lock(holder->mu);
      if (holder->done) continue;
      holder->file.reset();  // no-op on the file when it is no longer ours
      absl::Status status = AcquirePidFile(*holder);
      if (status.ok()) {
        Log().warn("worker {}: pid file {} was removed; written again", name, holder->path);
      } else {
        Log().error("worker {}: cannot write pid file again: {}", name,
                    std::string(status.message()));
      }
    }
  }
}

// A command worker (SPEC §10): the pid file is written with our pid,
// which the program keeps, then this process becomes the program. The
// pid file's lock is an open file description lock whose fd goes to the
// controller with kEntryRunning: it holds the file for the program, whose
// fds are 0-2 only (the channel closes at the exec; the controller quits
// it with SIGTERM, then releases the lock and removes the file).
int RunCommand(const v1::WorkerLaunch& launch) {
  const std::string& name = launch.name();
  if (launch.watchdog()) close(wire::kWorkerHeartbeatFd);  // WATCHDOG=1 beats instead
  auto acquired =
      PidFile::Acquire(launch.pid_filename(), getpid(), "worker", PidFile::LockKind::kOpenFile);
  absl::Status status = acquired.status();
  if (acquired.ok() && acquired->running_pid != 0) {
    status = absl::AlreadyExistsError(absl::StrCat(
        "pid file ", launch.pid_filename(), " is held by running process ", acquired->running_pid));
  }
  if (status.ok()) {
    const char running = static_cast<char>(wire::Message::kEntryRunning);
    (void)SendWithFds(wire::kWorkerChannelFd, std::string_view(&running, 1),
                      {acquired->file->fd()});  // the controller keeps it
    (void)acquired->file.release();             // the file stays: it names the program's pid
    status = ExecCommand(launch.command().program(), internal::CommandSpecOf(launch.command()),
                         launch.notify_socket());
    unlink(launch.pid_filename().c_str());  // ours: the exec failed
  } else {
    status = absl::Status(status.code(), absl::StrCat("cannot start: ", status.message()));
  }
  fprintf(stderr, "worker %s: %s\n", name.c_str(), std::string(status.message()).c_str());
  internal::SendEntryErrorPacket(wire::kWorkerChannelFd, std::string(status.message()));
  return 127;
}

}  // namespace

int RunWorker(const v1::WorkerLaunch& launch) {
  const std::string& name = launch.name();
  // The channel stays open for the worker's life; programs the entry
  // executes must not inherit it.
  fcntl(wire::kWorkerChannelFd, F_SETFD, FD_CLOEXEC);
  if (internal::IsCommand(launch.command())) return RunCommand(launch);
  if (absl::Status applied =
          internal::ApplyEntryEnvironment(launch.command(), launch.notify_socket());
      !applied.ok()) {
    fprintf(stderr, "worker %s: %s\n", name.c_str(), std::string(applied.message()).c_str());
    internal::SendEntryErrorPacket(wire::kWorkerChannelFd, std::string(applied.message()));
    return 1;
  }
  if (launch.watchdog()) {
    // Before the module loads: its loading counts as the entry's time.
    absl::Status attached =
        internal::AttachHeartbeat(wire::kWorkerHeartbeatFd, launch.heartbeat_slot());
    close(wire::kWorkerHeartbeatFd);
    if (!attached.ok()) {
      fprintf(stderr, "worker %s: %s\n", name.c_str(), std::string(attached.message()).c_str());
      return 1;
    }
  }
  if (launch.notify_ready()) {
    static constexpr char kReadyPacket[] = {static_cast<char>(wire::Message::kReady)};
    internal::SetReadyChannel(wire::kWorkerChannelFd,
                              std::string_view(kReadyPacket, sizeof(kReadyPacket)));
  }
  internal::HostConfig host;
  host.role = "worker:" + name;
  if (launch.has_logging_config()) host.logging = launch.logging_config();
  host.stdout_filename = launch.stdout_filename();
  host.stderr_filename = launch.stderr_filename();
  if (absl::Status status = internal::StartHost(host); !status.ok()) {
    fprintf(stderr, "worker %s: %s\n", name.c_str(), std::string(status.message()).c_str());
    internal::SendEntryErrorPacket(wire::kWorkerChannelFd,
                                   absl::StrCat("cannot start: ", status.message()));
    return 1;
  }
  const std::string resolved = launch.resolved_entry();
  internal::SetEntryModuleDir(internal::ModuleDirOf(resolved));

  // Leaked on purpose: the channel thread may still use it at _exit.
  auto* holder = new PidFileHolder();
  holder->path = launch.pid_filename();
  {
    std::lock_guard<std::mutex> lock(holder->mu);
    if (absl::Status status = AcquirePidFile(*holder); !status.ok()) {
      Log().error("worker {} cannot start: {}", name, std::string(status.message()));
      // Said to the pool too: its log shows it whatever our stderr is.
      internal::SendEntryErrorPacket(wire::kWorkerChannelFd,
                                     absl::StrCat("cannot start: ", status.message()));
      return 1;
    }
  }
  std::thread(ServeChannel, holder, name).detach();

  auto entry = internal::LoadEntry(resolved);
  int code = 1;
  if (!entry.ok()) {
    Log().error("worker {} (pid {}) cannot run entry {}: {}", name, getpid(), launch.entry(),
                std::string(entry.status().message()));
    internal::SendEntryErrorPacket(
        wire::kWorkerChannelFd,
        absl::StrCat("cannot run entry ", launch.entry(), ": ", entry.status().message()));
  } else {
    Send(wire::Message::kEntryRunning);
    Log().info("worker {} (pid {}) running entry {}", name, getpid(), launch.entry());
    Args args(launch.args());
    std::string error;
    code = internal::RunEntry(*entry, args, launch.entry(), &error);
    if (code != 0) internal::SendEntryErrorPacket(wire::kWorkerChannelFd, error);
    Log().info("worker {} (pid {}): entry {} {}", name, getpid(), launch.entry(),
               code == 0 ? "returned OK" : "failed, exit code 1");
  }
  {
    std::lock_guard<std::mutex> lock(holder->mu);
    holder->done = true;
    holder->file.reset();
  }
  spdlog::default_logger()->flush();
  return code;
}

}  // namespace appkit::worker
