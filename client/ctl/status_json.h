// The JSON of the status messages appkitctl prints most (GuardianStatus,
// ListWorkersResponse, WorkerStatus, ProcessRun), written through their
// generated accessors: no descriptor is built and no reflection runs.
// Building the descriptors of proto/controller.proto and its imports cost
// `appkitctl workers` 0.4 ms of its 5, guardian.proto `status` 0.3 ms.
//
// Contract: the same calls on the sink as ctl_output.cc's reflection walk
// makes for these messages (the generic printer's JSON: every field,
// declaration order with Timestamp/Duration fields last, unset message
// fields left out, enums by name, 64-bit integers as numbers). A field
// added to one of these messages must be added here too:
// CtlOutputTest.SameJsonAsTheGenericPrinter fails until it is.
#ifndef APPKIT_CLIENT_CTL_STATUS_JSON_H_
#define APPKIT_CLIENT_CTL_STATUS_JSON_H_

#include "client/ctl/json_sink.h"
#include "google/protobuf/message.h"
#include "proto/controller.pb.h"
#include "proto/guardian.pb.h"

namespace appkit::ctl {

// Writes `message` when it is one of the messages above; false otherwise
// (nothing written).
bool WriteStatusJson(const google::protobuf::Message& message, JsonSink& sink);

// An enum value's name, as the generated _Name functions give it but
// without their descriptor; nullptr for a number the enum does not name.
const char* EnumName(v1::GuardianState state);
const char* EnumName(v1::WorkerState state);

}  // namespace appkit::ctl

#endif  // APPKIT_CLIENT_CTL_STATUS_JSON_H_
