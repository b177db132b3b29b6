// Checks of option values that StartDaemon, StartWorkers and appkitctl's
// daemons.yaml share, so that absurd values are refused up front with the
// option named, instead of breaking a process further down:
//
//  - durations: at most kMaxOptionDuration (a year). Larger ones overflow
//    protobuf's Duration (about 10,000 years) or absl's saturating
//    arithmetic, and no real restart interval or timeout is that long
//    (std::nullopt means "never" / "forever" where an option allows it).
//  - strings that travel in appkit's protobuf messages (paths, names,
//    entries, args): proto3 strings carry UTF-8 only, so bytes that are not
//    UTF-8 are refused, with the value shown escaped.
//  - args: nested at most kMaxArgsDepth levels (common/runtime/args.h).
//
// Every error is InvalidArgument and starts with the option's name
// ("DaemonOptions.restart_interval ...").
#ifndef APPKIT_COMMON_OPTION_CHECKS_H_
#define APPKIT_COMMON_OPTION_CHECKS_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "google/protobuf/struct.pb.h"

namespace appkit::internal {

inline constexpr absl::Duration kMaxOptionDuration = absl::Hours(24 * 365);

// `value` in [0, kMaxOptionDuration] (0 excluded unless `zero_ok`).
absl::Status CheckDurationOption(const std::string& option, absl::Duration value,
                                 bool zero_ok = true);

// Strict UTF-8, as protobuf checks it: no overlong forms, no surrogates,
// nothing above U+10FFFF.
bool IsValidUtf8(std::string_view text);

// `text` with every byte that is not printable ASCII as \n, \t, \xNN ...,
// for error messages that must show a hostile value without writing it.
std::string EscapeBytes(std::string_view text);

// `value` is valid UTF-8, else an error naming `option` and the escaped value.
absl::Status CheckUtf8Option(const std::string& option, std::string_view value);

// Every string field of `message` (map keys too), recursively; the error
// names the field's path under `option` ("DaemonOptions.logging_config.
// handlers[0].file.filename"). By reflection, which builds the message's
// descriptors on first use: StartDaemon and StartWorkers check through
// generated accessors instead (client/launch_utf8.h), tested against this.
absl::Status CheckUtf8Fields(const std::string& option, const google::protobuf::Message& message);

// An Args struct: nesting within kMaxArgsDepth and UTF-8 keys and strings;
// the error names the path (`DaemonOptions.daemon_args["a"][2]`).
absl::Status CheckArgsStruct(const std::string& option, const google::protobuf::Struct& args);

}  // namespace appkit::internal

#endif  // APPKIT_COMMON_OPTION_CHECKS_H_
