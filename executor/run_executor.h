// The executor: runs one daemon's entry under its guardian.
//
// The executor binary (main.cc, thin glue over ExecutorMain) is a fork
// server for one guardian (common/process/fork_server.h): the guardian execs it
// once, with the fork-server socket on wire::kForkServerFd, and every
// executor (the first start and each restart) is a fork of it that runs
// RunExecutor with the ExecutorLaunch it was sent.
//
// An executor runs with stdout and stderr on fds 1 and 2 and the
// readiness pipe on wire::kExecutorReadyFd (proto/wire.h). It starts the
// appkit host (logging, quit on SIGTERM, forwarded to the guardian, SIGHUP
// reopening its outputs), loads the entry's module, writes
// wire::Message::kEntryRunning on the pipe, runs the entry and returns its
// exit code; the pipe stays open until the exit for what follows
// (common/host/supervisor_report.h: the entry's error, a pool's stop
// budget). The guardian tells "the entry ran and
// failed" from "the module could not be loaded" by that byte.
//
// Linked into a binary with -rdynamic: modules resolve the appkit runtime
// (quit flag, Args, StartWorkers, generated protos) against that binary,
// so there is one copy of that state per process.
#ifndef APPKIT_EXECUTOR_RUN_EXECUTOR_H_
#define APPKIT_EXECUTOR_RUN_EXECUTOR_H_

#include <string>
#include <vector>

#include "proto/launch.pb.h"

namespace appkit::executor {

// One executor's life, in a fork of the executor fork server (it changes
// process-wide state: signal handlers, logging, the fd limit). Returns the
// process exit code: 0 when the entry returned OK; 1 when it failed, threw,
// or its module could not be loaded or the host not started (said in the
// log or on stderr; nothing is written on the readiness pipe then).
int RunExecutor(const v1::ExecutorLaunch& launch);

// The same from the fork request: 2, saying so on stderr, for a request
// that is not an ExecutorLaunch.
int RunExecutorRequest(const std::string& request);

// The executor binary's main. `args`: the guardian's pid file, guardian
// socket and controller socket, which the fork server removes (when
// stale) if the guardian dies by SIGKILL, after it killed what the daemon
// left. Returns 2 when there is no fork-server socket (the executor is
// started by the guardian, not by hand), else once the guardian is gone.
int ExecutorMain(const std::vector<std::string>& args);

}  // namespace appkit::executor

#endif  // APPKIT_EXECUTOR_RUN_EXECUTOR_H_
