// RunWorker: the life of one worker process, from its WorkerLaunch to its
// exit code. Runs in a child of the worker fork server (worker/main.cc)
// with stdin /dev/null, stdout and stderr on fds 1 and 2, and the control
// channel to the controller on fd wire::kWorkerChannelFd (proto/wire.h).
//
// The control channel is a SOCK_SEQPACKET socket, one wire::Message byte
// per message. Worker -> controller: kEntryRunning once the entry is
// loaded (the worker is running). Controller -> worker: kQuit asks the
// worker to quit (QuitRequested() becomes true), kRewritePidFile asks it
// to write its pid file again (someone removed it), kPing is a liveness
// ping (answered kPong, each check_interval). EOF means the controller is
// gone: that is a quit request too.
//
// The worker holds its pid file (created and locked like a guardian's,
// common/pid_file.h) from before the entry runs until it returns.
#ifndef APPKIT_WORKER_RUN_WORKER_H_
#define APPKIT_WORKER_RUN_WORKER_H_

#include "proto/launch.pb.h"

namespace appkit::worker {

// The process exit code: 0 when the entry returned OK, else 1.
int RunWorker(const v1::WorkerLaunch& launch);

}  // namespace appkit::worker

#endif  // APPKIT_WORKER_RUN_WORKER_H_
