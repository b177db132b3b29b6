// Entries that the integration tests run under the executor and worker.
// Each appends "<event> <pid>" lines to the file named by args "events"
// (when given), so tests wait for events instead of sleeping.
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <optional>
#include <thread>
#include <vector>

#include "client/appkit.h"

namespace {

void Mark(const appkit::Args& args, const std::string& event) {
  auto path = args.GetString("events");
  if (!path.ok()) return;
  std::ofstream(*path, std::ios::app) << event << " " << getpid() << std::endl;
}

}  // namespace

// Runs until quit; logs and prints on the way.
APPKIT_ENTRY(run_until_quit) {
  Mark(args, "started");
  spdlog::info("module line from run_until_quit");
  printf("stdout line from run_until_quit\n");
  fflush(stdout);
  fprintf(stderr, "stderr line from run_until_quit\n");
  while (!appkit::QuitRequested()) appkit::Sleep(absl::Hours(1));
  Mark(args, "quit");
  return absl::OkStatus();
}

APPKIT_ENTRY(exit_ok) {
  Mark(args, "started");
  return absl::OkStatus();
}

APPKIT_ENTRY(fail_fast) {
  Mark(args, "started");
  return absl::InternalError("fail_fast always fails");
}

APPKIT_ENTRY(ignore_quit) {
  Mark(args, "started");
  for (;;) pause();
}

// Sleeps an hour, or until quit; records how long it slept.
APPKIT_ENTRY(sleep_long) {
  Mark(args, "started");
  absl::Time start = absl::Now();
  appkit::Sleep(absl::Hours(1));
  Mark(args, "slept_ms=" + std::to_string(absl::ToInt64Milliseconds(absl::Now() - start)));
  return absl::OkStatus();
}

// Reads its args and fails unless foo == 42 and name == "appkit".
APPKIT_ENTRY(check_args) {
  auto foo = args.GetInt("foo");
  if (!foo.ok()) return foo.status();
  auto name = args.GetString("name");
  if (!name.ok()) return name.status();
  Mark(args, "args foo=" + std::to_string(*foo) + " name=" + *name);
  return absl::OkStatus();
}

// Forks a grandchild that sleeps forever, then runs until quit.
APPKIT_ENTRY(fork_grandchild) {
  pid_t child = fork();
  if (child == 0) {
    for (;;) pause();
  }
  Mark(args, "grandchild=" + std::to_string(child) + " by");
  while (!appkit::QuitRequested()) appkit::Sleep(absl::Hours(1));
  return absl::OkStatus();
}

APPKIT_ENTRY(crash) {
  Mark(args, "started");
  raise(SIGSEGV);
  return absl::OkStatus();
}

namespace {

std::string StringField(const google::protobuf::Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? "" : it->second.string_value();
}

std::optional<absl::Duration> MillisField(const appkit::Args& args, const std::string& key) {
  auto it = args.proto().fields().find(key);
  if (it == args.proto().fields().end()) return std::nullopt;
  return absl::Milliseconds(it->second.number_value());
}

}  // namespace

// Runs StartWorkers from its args:
//   {"workers": [{"name", "entry", "pid_filename", "stdout_filename",
//                 "stderr_filename", "args": {...}, "logging_json": "...",
//                 "command": [...], "environment": {...}, "working_directory"}],
//    "restart_interval_ms": n (absent: no restart), "stop_timeout_ms": n,
//    "check_interval_ms": n, "debug_filename": "...", "max_restarts": n}
// and marks "pool_returned" (or "pool_error <message>") when it returns.
APPKIT_ENTRY(run_workers) {
  std::vector<appkit::WorkerStartInfo> workers;
  auto list = args.proto().fields().find("workers");
  if (list != args.proto().fields().end()) {
    for (const auto& value : list->second.list_value().values()) {
      const google::protobuf::Struct& w = value.struct_value();
      appkit::WorkerStartInfo info;
      info.name = StringField(w, "name");
      info.entry = StringField(w, "entry");
      info.pid_filename = StringField(w, "pid_filename");
      if (w.fields().count("stdout_filename"))
        info.stdout_filename = StringField(w, "stdout_filename");
      if (w.fields().count("stderr_filename"))
        info.stderr_filename = StringField(w, "stderr_filename");
      if (auto a = w.fields().find("args"); a != w.fields().end()) {
        info.args = appkit::Args(a->second.struct_value());
      }
      // SPEC §10: "command": [argv...], "environment": {...}, "working_directory".
      if (auto c = w.fields().find("command"); c != w.fields().end()) {
        for (const auto& arg : c->second.list_value().values()) {
          info.command.push_back(arg.string_value());
        }
      }
      if (auto e = w.fields().find("environment"); e != w.fields().end()) {
        for (const auto& [key, value] : e->second.struct_value().fields()) {
          info.environment[key] = value.string_value();
        }
      }
      info.working_directory = StringField(w, "working_directory");
      const appkit::Args fields(w);
      if (auto ready = MillisField(fields, "ready_timeout_ms")) info.ready_timeout = ready;
      if (auto watchdog = MillisField(fields, "watchdog_timeout_ms")) {
        info.watchdog_timeout = watchdog;
      }
      if (std::string json = StringField(w, "logging_json"); !json.empty()) {
        auto config = appkit::LoggingConfigFromJson(json);
        if (!config.ok()) return config.status();
        info.logging_config = *config;
      }
      workers.push_back(std::move(info));
    }
  }
  appkit::WorkersOptions options;
  options.restart_interval = MillisField(args, "restart_interval_ms");
  if (auto stop = MillisField(args, "stop_timeout_ms")) options.stop_timeout = stop;
  if (auto check = MillisField(args, "check_interval_ms")) options.check_interval = *check;
  if (auto debug = args.GetString("debug_filename"); debug.ok()) options.debug_filename = *debug;
  if (auto max = args.GetInt("max_restarts"); max.ok()) {
    options.restart_policy.max_restarts = static_cast<int>(*max);
  }
  Mark(args, "pool_starting");
  absl::Status status = appkit::StartWorkers(workers, options);
  Mark(args,
       status.ok() ? std::string("pool_returned") : "pool_error " + std::string(status.message()));
  return status;
}

// A worker that writes its stdout/stderr lines and logs, then runs until quit.
APPKIT_ENTRY(chatty_worker) {
  Mark(args, "started");
  spdlog::info("worker module line");
  printf("worker stdout line\n");
  fflush(stdout);
  fprintf(stderr, "worker stderr line\n");
  while (!appkit::QuitRequested()) appkit::Sleep(absl::Hours(1));
  Mark(args, "quit");
  return absl::OkStatus();
}

// Exits with code 1 at once (as fail_fast), or with args "code".
APPKIT_ENTRY(exit_code) {
  Mark(args, "started");
  auto code = args.GetInt("code");
  fflush(nullptr);
  _exit(code.ok() ? static_cast<int>(*code) : 1);
}

// mordor's default entry name ("<module>:daemon_entry"): logs its args, runs until quit.
APPKIT_ENTRY(daemon_entry) {
  Mark(args, "started");
  spdlog::info("daemon_entry running with args {}", args.ToJson());
  while (!appkit::QuitRequested()) appkit::Sleep(absl::Hours(1));
  return absl::OkStatus();
}

// Exits through exit(3) (atexit handlers run), or abort()s.
APPKIT_ENTRY(call_exit) {
  Mark(args, "started");
  exit(3);
}

APPKIT_ENTRY(call_abort) {
  Mark(args, "started");
  abort();
}

// Records the size of its args' JSON, then runs until quit.
APPKIT_ENTRY(args_size) {
  Mark(args, "args_bytes=" + std::to_string(args.ToJson().size()));
  while (!appkit::QuitRequested()) appkit::Sleep(absl::Hours(1));
  return absl::OkStatus();
}

// Records every open fd ("fd=<n>:<what it is>"), then runs until quit.
APPKIT_ENTRY(list_fds) {
  std::vector<std::string> lines;
  for (int fd = 0; fd < 1024; ++fd) {
    char link[64];
    char target[512];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n < 0) continue;
    target[n] = '\0';
    lines.push_back("fd=" + std::to_string(fd) + ":" + target);
  }
  for (const std::string& line : lines) Mark(args, line);
  Mark(args, "started");
  while (!appkit::QuitRequested()) appkit::Sleep(absl::Hours(1));
  return absl::OkStatus();
}

// Prints to stdout (no flush), logs, then crashes: nothing may be lost.
APPKIT_ENTRY(print_and_crash) {
  Mark(args, "started");
  printf("last words on stdout\n");
  spdlog::info("last words in the log");
  rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  raise(SIGSEGV);
  return absl::OkStatus();
}

// Lives args "ms" milliseconds (or until quit), then fails: a crash loop.
APPKIT_ENTRY(exit_after) {
  auto ms = args.GetInt("ms");
  appkit::Sleep(absl::Milliseconds(ms.ok() ? *ms : 100));
  if (appkit::QuitRequested()) return absl::OkStatus();
  return absl::InternalError("exit_after: time is up");
}

// Four threads log as fast as they can until quit, then record how many
// lines they wrote in all ("logged <n> <pid>").
APPKIT_ENTRY(log_flood) {
  Mark(args, "started");
  std::atomic<bool> stop{false};
  std::atomic<long> logged{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (long i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        spdlog::info("flood {} {}", t, i);
        logged.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  while (!appkit::QuitRequested()) appkit::Sleep(absl::Hours(1));
  stop = true;
  for (std::thread& thread : threads) thread.join();
  Mark(args, "logged " + std::to_string(logged.load()));
  return absl::OkStatus();
}

namespace {

void MarkFdLimit(const appkit::Args& args) {
  rlimit limit = {};
  getrlimit(RLIMIT_NOFILE, &limit);
  Mark(args, "nofile=" + std::to_string(limit.rlim_cur) + "/" + std::to_string(limit.rlim_max));
}

}  // namespace

// Records its RLIMIT_NOFILE ("nofile=<soft>/<hard> <pid>"), then runs
// until quit.
APPKIT_ENTRY(record_fd_limit) {
  MarkFdLimit(args);
  Mark(args, "started");
  while (!appkit::QuitRequested()) appkit::Sleep(absl::Hours(1));
  return absl::OkStatus();
}

// Records its RLIMIT_NOFILE, then runs StartWorkers as run_workers does.
APPKIT_ENTRY(record_fd_limit_then_workers) {
  MarkFdLimit(args);
  return run_workers(args);
}

// Sets the variable args "set_env" ("NAME=VALUE"), then runs StartWorkers
// as run_workers does: its workers must see it.
APPKIT_ENTRY(set_env_then_workers) {
  const std::string assignment = args.GetString("set_env").value_or("");
  const size_t equals = assignment.find('=');
  if (equals == std::string::npos) return absl::InvalidArgumentError("set_env: NAME=VALUE");
  setenv(assignment.substr(0, equals).c_str(), assignment.substr(equals + 1).c_str(), 1);
  return run_workers(args);
}

// Marks "env=<value of the variable args "name", or -> unset>", then runs
// until quit.
APPKIT_ENTRY(record_env) {
  const char* value = getenv(args.GetString("name").value_or("").c_str());
  Mark(args, std::string("env=") + (value ? value : "-"));
  Mark(args, "started");
  while (!appkit::QuitRequested()) appkit::Sleep(absl::Hours(1));
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Issue 11 item 10: escaped processes.

#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>

// Double-forks a sleeper that calls setsid on the way (it leaves the
// process group and loses its parent: a classic daemon), marks
// "escaped=<sleeper pid> by", then runs until quit. With args
// "crash_once" (a path): the run that creates that file crashes instead.
APPKIT_ENTRY(escape_then_run) {
  int report[2];
  if (pipe(report) != 0) return absl::InternalError("pipe");
  pid_t middle = fork();
  if (middle == 0) {
    close(report[0]);
    setsid();
    pid_t sleeper = fork();
    if (sleeper == 0) {
      execl("/bin/sleep", "sleep", "1000", static_cast<char*>(nullptr));
      _exit(127);
    }
    (void)!write(report[1], &sleeper, sizeof(sleeper));
    _exit(0);
  }
  close(report[1]);
  pid_t sleeper = 0;
  (void)!read(report[0], &sleeper, sizeof(sleeper));
  close(report[0]);
  while (waitpid(middle, nullptr, 0) < 0 && errno == EINTR) {
  }
  Mark(args, "escaped=" + std::to_string(sleeper) + " by");
  if (auto once = args.GetString("crash_once"); once.ok()) {
    int fd = open(once->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      close(fd);
      rlimit no_core = {0, 0};
      setrlimit(RLIMIT_CORE, &no_core);
      raise(SIGSEGV);
    }
  }
  while (!appkit::QuitRequested()) appkit::Sleep(absl::Hours(1));
  return absl::OkStatus();
}
