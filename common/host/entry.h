// Entries: "module:function" strings, finding the module, and running it.
//
// - ParseEntry splits and checks the string.
// - ResolveEntry finds the module (a path with '/' is used as is;
//   otherwise lib<module>.so then <module>.so in each search directory)
//   and checks, by reading the module's ELF dynamic symbol table, that it
//   exports the entry, and that it does not define the appkit runtime
//   itself (kRuntimeMarker: a module that links //client:appkit would run
//   with a second copy of every runtime state, so it is refused, naming the
//   module and what to change). Nothing of the module runs in the caller, so a
//   module whose static constructors crash cannot take the caller down.
//   The result is "<absolute module path>:<function>".
// - LoadEntry (hosts only) dlopens the module and finds the descriptor.
// - RunEntry calls it: OK -> 0; a non-OK status or an exception is logged
//   and gives 1.
// Errors name the entry string, the module, the function, the directories
// searched.
#ifndef APPKIT_COMMON_ENTRY_H_
#define APPKIT_COMMON_ENTRY_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/runtime/args.h"
#include "common/runtime/entry_abi.h"

namespace appkit::internal {

// A symbol that only the appkit runtime (//common/host) defines.
inline constexpr char kRuntimeMarker[] = "appkit_runtime_marker";

struct EntrySpec {
  std::string module;
  std::string function;
};

absl::StatusOr<EntrySpec> ParseEntry(std::string_view entry);

// The directories of APPKIT_MODULE_PATH (colon-separated, empty items
// skipped: the current directory is never searched implicitly), then the
// directory of the running program, after `first` (if not empty).
std::vector<std::string> ModuleSearchDirs(const std::vector<std::string>& first = {});

absl::StatusOr<std::string> ResolveEntry(std::string_view entry,
                                         const std::vector<std::string>& search_dirs);

// Whether the module of a resolved entry imports appkit::StartWorkers (an
// undefined symbol of its dynamic table: its entry may start a pool).
// False when it cannot be read.
bool ModuleCallsStartWorkers(const std::string& resolved);

// The directory of a resolved entry's module ("/abs/dir" of
// "/abs/dir/libx.so:fn").
std::string ModuleDirOf(const std::string& resolved);

// `resolved` is ResolveEntry's output.
absl::StatusOr<EntryFunction> LoadEntry(const std::string& resolved);

// Runs the entry and returns the process exit code it stands for. On a
// failure `error` (if given) gets why: the status the entry returned
// ("UNAVAILABLE: ..."), or the exception.
int RunEntry(EntryFunction function, const Args& args, const std::string& entry,
             std::string* error = nullptr);

}  // namespace appkit::internal

#endif  // APPKIT_COMMON_ENTRY_H_
