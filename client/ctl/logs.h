// `appkitctl --config F logs NAME [--worker W] [--stdout|--stderr] [-n N] [-f]`:
// the last lines of a daemon's log file (or its stdout/stderr file, or a
// worker's stdout/stderr file, as the running pool reports them: the
// daemon's own file for a worker writing to "/dev/stdout" or "/dev/stderr";
// a worker's own log file is its entry's business, not known here, so a
// worker's default is its stderr), then, with -f, what is written next.
//
// Following survives log rotation: it watches the file's directory with
// inotify (no polling) and, when the path comes to name a new file
// (rename and create, delete and create), reads what is left of the old
// one and goes on from the start of the new one; a file truncated in
// place (copytruncate) is read again from its start. It ends cleanly,
// exit 0, on SIGINT or SIGTERM.
#ifndef APPKIT_CLIENT_CTL_LOGS_H_
#define APPKIT_CLIENT_CTL_LOGS_H_

#include <cstdint>
#include <string>

#include "client/ctl/ctl_args.h"
#include "client/ctl/daemons_config.h"

namespace appkit::ctl {

int Logs(const NamedDaemon& daemon, const CtlArgs& args);

// The file part: the last `lines` lines of `path` to stdout, then, with
// `follow`, what is appended, until SIGINT/SIGTERM. A missing file is an
// error without `follow`, and waited for with it.
int TailFile(const std::string& path, int64_t lines, bool follow);

}  // namespace appkit::ctl

#endif  // APPKIT_CLIENT_CTL_LOGS_H_
