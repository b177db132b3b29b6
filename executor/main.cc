// The executor binary: a fork server for one guardian, each fork an
// executor running the daemon's entry (run_executor.h). argv: executor
// <pid file> <guardian socket> <controller socket>, the guardian's files,
// removed here if the guardian dies by SIGKILL.
//
// Linked with -rdynamic: modules resolve the appkit runtime (quit flag,
// Args, StartWorkers, generated protos) against this binary, so there is
// one copy of that state per process.
#include <string>
#include <vector>

#include "common/process/process_title.h"
#include "executor/run_executor.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // "appkit-fork-server <daemon>/executor <pid file> <sockets>": the room
  // is the executors' too.
  std::string title = appkit::ExecTitleOf(argv[0]);
  for (const std::string& arg : args) title += " " + arg;
  appkit::InitProcessTitle(argc, argv);
  appkit::SetProcessTitle(title, "appkit-forksrv");
  return appkit::executor::ExecutorMain(args);
}
