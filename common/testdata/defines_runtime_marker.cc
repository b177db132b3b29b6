// A module that defines the appkit runtime's marker symbol, as one that
// links //client:appkit does (testing/liblinks_runtime.so is the real
// thing, but it pulls all of client/ into common/'s tests): entry_test
// checks that ResolveEntry refuses it.
#include "common/entry_abi.h"

extern "C" __attribute__((visibility("default"), used)) const char appkit_runtime_marker[] =
    "not the runtime";

APPKIT_ENTRY(daemon_main) { return absl::OkStatus(); }
