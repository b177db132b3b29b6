// How appkitctl prints: one JSON style everywhere (pretty, two spaces,
// lowerCamelCase keys as protobuf's JSON mapping names them, 64-bit
// integers such as pids as JSON numbers, not protobuf's strings), and
// tables a supervisorctl or systemctl user reads at a glance.
#ifndef APPKIT_CLIENT_CTL_CTL_OUTPUT_H_
#define APPKIT_CLIENT_CTL_CTL_OUTPUT_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "nlohmann/json.hpp"
#include "proto/process.pb.h"

namespace appkit::ctl {

using OrderedJson = nlohmann::ordered_json;

// `message` in protobuf's JSON mapping (every field, defaults included),
// with its int64/uint64 fields as numbers.
OrderedJson ProtoToJson(const google::protobuf::Message& message);

// ProtoToJson(message) pretty-printed (2 spaces), written straight from
// the message: the text PrintJson(ProtoToJson(message)) prints, without the
// tree (a message printed as it is: `appkitctl workers --json`).
std::string ProtoJsonText(const google::protobuf::Message& message);

// `json` pretty-printed (2 spaces) and a newline, on stdout.
void PrintJson(const OrderedJson& json);
// ProtoJsonText(message) and a newline, on stdout.
void PrintProtoJson(const google::protobuf::Message& message);

// `rows` as left-aligned columns two spaces apart (the last column
// unpadded), on stdout.
void PrintTable(const std::vector<std::vector<std::string>>& rows);

// A duration at a glance: 850ms, 42s, 5m03s, 2h05m, 3d04h.
std::string Compact(absl::Duration duration);
// How long ago `start` was, compact; "-" when unset.
std::string Since(const google::protobuf::Timestamp& start);

// A GuardianState or WorkerState value without its prefix: "RUNNING".
std::string StateName(int state, bool guardian);

// A finished run in words: "exited with code 1, 3s ago: <error>" (the
// error when the run carries one).
std::string LastExit(const v1::ProcessRun& run);

}  // namespace appkit::ctl

#endif  // APPKIT_CLIENT_CTL_CTL_OUTPUT_H_
