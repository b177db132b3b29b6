// What `ps` shows for an appkit process (SPEC §10): its command line
// (/proc/PID/cmdline) and its name (comm), e.g. `appkit-worker
// demo/greeter-1`.
//
// An exec'd process gets its title as argv[0] (SpawnOptions::argv0),
// padded by ExecTitle to kTitleRoom bytes, so that it and the processes it
// forks without exec (the executor, the workers: forks of fork servers)
// have room to write theirs. InitProcessTitle records that room (argv[0]
// to the end of the last argument, contiguous as the kernel lays it out);
// SetProcessTitle writes a title there (truncated to the room, the rest
// NUL-filled, so /proc/PID/cmdline reads the title then NULs) and sets
// comm (PR_SET_NAME, 15 bytes). Copy what you need of argv before: it is
// overwritten. Not thread-safe: call early, before other threads run.
#ifndef APPKIT_COMMON_PROCESS_PROCESS_TITLE_H_
#define APPKIT_COMMON_PROCESS_PROCESS_TITLE_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace appkit {

inline constexpr size_t kTitleRoom = 200;

// `title` padded with spaces to kTitleRoom bytes (longer ones unchanged).
std::string ExecTitle(std::string_view title);

void InitProcessTitle(int argc, char** argv);

// `comm`: empty for the first 15 bytes of `title`. Without
// InitProcessTitle, only comm changes.
void SetProcessTitle(std::string_view title, std::string_view comm = "");

// The title this process was exec'd with: argv[0] without its padding
// (call after InitProcessTitle, before SetProcessTitle).
std::string ExecTitleOf(const char* argv0);

}  // namespace appkit

#endif  // APPKIT_COMMON_PROCESS_PROCESS_TITLE_H_
