#include "client/ctl/logs.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/ctl/ctl_commands.h"
#include "common/base/safe_file.h"
#include "common/base/unique_fd.h"

namespace appkit::ctl {
namespace {

constexpr size_t kChunk = 64 << 10;

bool WriteOut(const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = write(STDOUT_FILENO, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// `fd` from its offset to its end, to stdout.
bool Copy(int fd) {
  static char buffer[kChunk];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    if (!WriteOut(buffer, static_cast<size_t>(n))) return false;
  }
}

// Where the last `lines` lines of `fd` start (a final newline ends the
// last line; it does not start another).
off_t StartOfLastLines(int fd, int64_t lines) {
  struct stat st;
  if (fstat(fd, &st) != 0) return 0;
  const off_t end = st.st_size;
  if (lines == 0) return end;
  static char buffer[kChunk];
  int64_t seen = 0;
  off_t pos = end;
  while (pos > 0) {
    const size_t size = static_cast<size_t>(std::min<off_t>(kChunk, pos));
    pos -= static_cast<off_t>(size);
    ssize_t n = pread(fd, buffer, size, pos);
    if (n != static_cast<ssize_t>(size)) return pos;
    for (size_t i = size; i-- > 0;) {
      if (buffer[i] != '\n' || pos + static_cast<off_t>(i) == end - 1) continue;
      if (++seen == lines) return pos + static_cast<off_t>(i) + 1;
    }
  }
  return 0;
}

// The file a path names, read as it grows and as the path comes to name
// another file.
class Follower {
 public:
  explicit Follower(std::string path) : path_(std::move(path)) {}

  void Adopt(UniqueFd file) {
    file_ = std::move(file);
    struct stat st;
    if (fstat(file_.get(), &st) == 0) {
      dev_ = st.st_dev;
      ino_ = st.st_ino;
    }
  }

  // Prints what the open file has past its offset (all of it again when
  // it was truncated), then moves on to a new file at the path, printing
  // it from its start. False (said why) on an error.
  bool CatchUp() {
    if (file_) {
      struct stat st;
      const off_t offset = lseek(file_.get(), 0, SEEK_CUR);
      if (fstat(file_.get(), &st) == 0 && st.st_size < offset) lseek(file_.get(), 0, SEEK_SET);
      if (!Copy(file_.get())) return false;
    }
    struct stat now;
    if (stat(path_.c_str(), &now) != 0) return true;  // gone for now: wait for the next one
    if (file_ && now.st_dev == dev_ && now.st_ino == ino_) return true;
    auto opened = OpenFileForReading(path_, "log file");
    if (!opened.ok()) {
      if (absl::IsNotFound(opened.status())) return true;
      fprintf(stderr, "%s\n", std::string(opened.status().message()).c_str());
      return false;
    }
    Adopt(std::move(*opened));
    return Copy(file_.get());
  }

 private:
  std::string path_;
  UniqueFd file_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

int Follow(const std::string& path, Follower& follower) {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigprocmask(SIG_BLOCK, &stop, nullptr);
  UniqueFd signals(signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK));
  UniqueFd watch(inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  const std::string dir = DirName(path);
  if (!signals || !watch ||
      inotify_add_watch(watch.get(), dir.c_str(),
                        IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                            IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
    fprintf(stderr, "cannot watch %s: %s\n", dir.c_str(), strerror(errno));
    return kError;
  }
  // What was written between opening the file and watching it.
  if (!follower.CatchUp()) return kError;
  alignas(inotify_event) static char events[kChunk];
  for (;;) {
    pollfd fds[2] = {{signals.get(), POLLIN, 0}, {watch.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "poll: %s\n", strerror(errno));
      return kError;
    }
    if (fds[0].revents != 0) return kOk;  // SIGINT or SIGTERM: done
    bool gone = false;
    for (;;) {
      ssize_t n = read(watch.get(), events, sizeof(events));
      if (n <= 0) break;
      for (char* p = events; p < events + n;) {
        const auto* event = reinterpret_cast<const inotify_event*>(p);
        if (event->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) gone = true;
        p += sizeof(inotify_event) + event->len;
      }
    }
    if (!follower.CatchUp()) return kError;
    if (gone) {
      fprintf(stderr, "directory %s was removed or moved: no more to follow\n", dir.c_str());
      return kError;
    }
  }
}

}  // namespace

int TailFile(const std::string& path, int64_t lines, bool follow) {
  Follower follower(path);
  auto opened = OpenFileForReading(path, "log file");
  if (opened.ok()) {
    lseek(opened->get(), StartOfLastLines(opened->get(), lines), SEEK_SET);
    if (!Copy(opened->get())) return kError;
    follower.Adopt(std::move(*opened));
  } else if (!follow || !absl::IsNotFound(opened.status())) {
    fprintf(stderr, "%s\n", std::string(opened.status().message()).c_str());
    return kError;
  } else {
    fprintf(stderr, "%s does not exist yet: waiting for it\n", path.c_str());
  }
  return follow ? Follow(path, follower) : kOk;
}

int Logs(const NamedDaemon& daemon, const CtlArgs& args) {
  if (args.stdout_stream && args.stderr_stream) {
    fprintf(stderr, "appkitctl: logs takes --stdout or --stderr, not both\n");
    return kUsage;
  }
  const DaemonFiles& files = daemon.files;
  if (args.worker.empty()) {
    return TailFile(args.stdout_stream   ? files.stdout_file
                    : args.stderr_stream ? files.stderr_file
                                         : files.log,
                    args.lines, args.follow);
  }
  // A worker's files are what its running pool reports.
  DaemonView view = Inspect(Target{files.pid, ""});
  if (!view.status) {
    fprintf(stderr, "daemon %s is not running (%s): its workers' files are known while it runs\n",
            daemon.name.c_str(), view.problem.c_str());
    return view.exit_code;
  }
  absl::StatusOr<v1::ListWorkersResponse> list = ListWorkers(*view.status);
  if (!list.ok()) {
    fprintf(stderr, "%s\n", std::string(list.status().message()).c_str());
    return kError;
  }
  std::string known;
  for (const v1::WorkerStatus& worker : list->workers()) {
    if (worker.name() != args.worker) {
      absl::StrAppend(&known, known.empty() ? "" : ", ", worker.name());
      continue;
    }
    const bool out = args.stdout_stream;
    const std::string& path = out ? worker.stdout_filename() : worker.stderr_filename();
    if (path.empty() || path == "/dev/null") {
      fprintf(stderr, "worker %s of %s sends its %s to %s: nothing to show\n", args.worker.c_str(),
              daemon.name.c_str(), out ? "stdout" : "stderr",
              path.empty() ? "nowhere" : path.c_str());
      return kError;
    }
    if (path == "/dev/stdout" || path == "/dev/stderr") {
      // The daemon's own stdout or stderr, which the worker inherits:
      // its file, where the daemon's lines are too.
      const std::string& shared = path == "/dev/stdout" ? files.stdout_file : files.stderr_file;
      fprintf(stderr,
              "worker %s of %s sends its %s to the daemon's %s: %s (with the daemon's lines)\n",
              args.worker.c_str(), daemon.name.c_str(), out ? "stdout" : "stderr", path.c_str() + 5,
              shared.c_str());
      return TailFile(shared, args.lines, args.follow);
    }
    return TailFile(path, args.lines, args.follow);
  }
  fprintf(stderr, "daemon %s has no worker named '%s' (workers: %s)\n", daemon.name.c_str(),
          args.worker.c_str(), known.empty() ? "none" : known.c_str());
  return kError;
}

}  // namespace appkit::ctl
