// The binary contract between a module (.so) and the appkit host binaries
// (executor, worker): what APPKIT_ENTRY(name) exports.
//
// APPKIT_ENTRY(daemon_main) defines the C++ function
//   absl::Status daemon_main(const appkit::Args& args)
// and exports the C symbol `appkit_entry_daemon_main`, an EntryDescriptor
// pointing at it. Hosts find entries by that symbol (dlsym), and
// StartDaemon/StartWorkers check that it exists (in the ELF dynamic symbol
// table) before launching anything.
#ifndef APPKIT_COMMON_ENTRY_ABI_H_
#define APPKIT_COMMON_ENTRY_ABI_H_

#include <cstdint>

#include "absl/status/status.h"
#include "common/runtime/args.h"

namespace appkit::internal {

using EntryFunction = absl::Status (*)(const ::appkit::Args& args);

// Bumped on any incompatible change to this struct or to EntryFunction.
constexpr uint32_t kEntryAbiVersion = 1;

struct EntryDescriptor {
  uint32_t abi_version;
  EntryFunction function;
  const char* name;
};

// "appkit_entry_" + function name.
constexpr const char kEntrySymbolPrefix[] = "appkit_entry_";

}  // namespace appkit::internal

#define APPKIT_ENTRY(name)                                          \
  absl::Status name(const ::appkit::Args& args);                    \
  extern "C" __attribute__((visibility("default"), used))           \
  const ::appkit::internal::EntryDescriptor appkit_entry_##name = { \
      ::appkit::internal::kEntryAbiVersion, &name, #name};          \
  absl::Status name([[maybe_unused]] const ::appkit::Args& args)

#endif  // APPKIT_COMMON_ENTRY_ABI_H_
