// appkitctl: look at, start, stop and follow appkit daemons. The commands
// and their forms are the table in ctl_main.cc (`appkitctl --help`).
#include <stdio.h>
#include <unistd.h>

#include "client/ctl/ctl_main.h"

int main(int argc, char** argv) {
  const int code = appkit::ctl::CtlMain(argc, argv);
  // Done: what is printed is flushed, and nothing else needs tearing down
  // (gRPC's and protobuf's destructors would only cost time).
  fflush(stdout);
  fflush(stderr);
  _exit(code);
}
