#include "client/ctl/ctl_output.h"

#include <stdio.h>

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/ctl/json_sink.h"
#include "client/ctl/status_json.h"
#include "common/base/time_format.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "proto/controller.pb.h"
#include "proto/guardian.pb.h"

namespace appkit::ctl {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

bool Is64Bit(const FieldDescriptor* field) {
  return field->cpp_type() == FieldDescriptor::CPPTYPE_INT64 ||
         field->cpp_type() == FieldDescriptor::CPPTYPE_UINT64;
}

void NumberFrom(OrderedJson& value) {
  if (!value.is_string()) return;
  const std::string& text = value.get_ref<const std::string&>();
  int64_t signed_value = 0;
  uint64_t unsigned_value = 0;
  if (absl::SimpleAtoi(text, &signed_value)) {
    value = signed_value;
  } else if (absl::SimpleAtoi(text, &unsigned_value)) {
    value = unsigned_value;
  }
}

void FixNumbers(const Descriptor* type, OrderedJson& json);

// One value of `field` (an element, for a repeated field).
void FixValue(const FieldDescriptor* field, OrderedJson& value) {
  if (Is64Bit(field)) {
    NumberFrom(value);
  } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    const Descriptor* type = field->message_type();
    // Well-known types have their own JSON forms; of those only the 64-bit
    // wrappers print a number as a string.
    if (type->full_name() == "google.protobuf.Int64Value" ||
        type->full_name() == "google.protobuf.UInt64Value") {
      NumberFrom(value);
    } else if (type->file()->package() != "google.protobuf") {
      FixNumbers(type, value);
    }
  }
}

void FixNumbers(const Descriptor* type, OrderedJson& json) {
  if (!json.is_object()) return;
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    auto found = json.find(field->json_name());
    if (found == json.end()) continue;
    if (field->is_map()) {
      const FieldDescriptor* value_field = field->message_type()->map_value();
      for (auto& item : found->items()) FixValue(value_field, item.value());
    } else if (field->is_repeated()) {
      for (OrderedJson& element : *found) FixValue(field, element);
    } else {
      FixValue(field, *found);
    }
  }
}

// The proto3 JSON form (MessageToJsonString with
// always_print_primitive_fields, then FixNumbers), written by reflection:
// for a pool of 200 workers the generic printer (a binary round trip
// through a TypeResolver, then a parse of its text) cost appkitctl 6 ms.
// Well-known types other than Timestamp and Duration still go through it.
// The walk goes to a JsonSink: a tree, or the text itself (no tree: the
// tree cost 3 ms more than the text for 200 workers).
void WriteMessage(const google::protobuf::Message& message, JsonSink& sink);

void WriteScalar(const google::protobuf::Message& message, const FieldDescriptor* field, int index,
                 JsonSink& sink) {
  const google::protobuf::Reflection* r = message.GetReflection();
  const bool repeated = field->is_repeated();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return sink.Int(repeated ? r->GetRepeatedInt32(message, field, index)
                               : r->GetInt32(message, field));
    case FieldDescriptor::CPPTYPE_INT64:
      return sink.Int(repeated ? r->GetRepeatedInt64(message, field, index)
                               : r->GetInt64(message, field));
    case FieldDescriptor::CPPTYPE_UINT32:
      return sink.UInt(repeated ? r->GetRepeatedUInt32(message, field, index)
                                : r->GetUInt32(message, field));
    case FieldDescriptor::CPPTYPE_UINT64:
      return sink.UInt(repeated ? r->GetRepeatedUInt64(message, field, index)
                                : r->GetUInt64(message, field));
    case FieldDescriptor::CPPTYPE_BOOL:
      return sink.Bool(repeated ? r->GetRepeatedBool(message, field, index)
                                : r->GetBool(message, field));
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int number = repeated ? r->GetRepeatedEnumValue(message, field, index)
                                  : r->GetEnumValue(message, field);
      const google::protobuf::EnumValueDescriptor* value =
          field->enum_type()->FindValueByNumber(number);
      if (value == nullptr) return sink.Int(number);
      return sink.String(value->name());
    }
    case FieldDescriptor::CPPTYPE_STRING:
      if (field->type() == FieldDescriptor::TYPE_STRING) {
        std::string scratch;
        return sink.String(repeated ? r->GetRepeatedStringReference(message, field, index, &scratch)
                                    : r->GetStringReference(message, field, &scratch));
      }
      break;  // bytes: base64, by the generic printer (Generic() below)
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return WriteMessage(
          repeated ? r->GetRepeatedMessage(message, field, index) : r->GetMessage(message, field),
          sink);
    default:
      break;  // float, double: by the generic printer (Generic() below)
  }
  sink.Json(OrderedJson());
}

bool Generic(const FieldDescriptor* field) {
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return true;
    case FieldDescriptor::CPPTYPE_STRING:
      return field->type() == FieldDescriptor::TYPE_BYTES;
    default:
      return field->is_map();
  }
}

OrderedJson GenericJson(const google::protobuf::Message& message) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  if (!google::protobuf::util::MessageToJsonString(message, &text, options).ok()) {
    return OrderedJson::object();
  }
  OrderedJson json = OrderedJson::parse(text, nullptr, /*allow_exceptions=*/false);
  FixNumbers(message.GetDescriptor(), json);
  return json;
}

// The fields of a message (not a well-known type) as an object.
void WriteFields(const google::protobuf::Message& message, JsonSink& sink) {
  if (WriteStatusJson(message, sink)) return;  // no descriptor, no reflection
  const Descriptor* type = message.GetDescriptor();
  const google::protobuf::Reflection* r = message.GetReflection();
  for (int i = 0; i < type->field_count(); ++i) {
    if (Generic(type->field(i))) {
      sink.Json(GenericJson(message));
      return;
    }
  }
  sink.BeginObject();
  // The generic printer's order: the fields in declaration order, except
  // that those of a well-known type (Timestamp, Duration, ...) come last.
  for (bool well_known : {false, true}) {
    for (int i = 0; i < type->field_count(); ++i) {
      const FieldDescriptor* field = type->field(i);
      const bool is_well_known = field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
                                 field->message_type()->file()->package() == "google.protobuf";
      if (is_well_known != well_known) continue;
      if (field->is_repeated()) {
        sink.Key(field->json_name());
        sink.BeginArray();
        const int size = r->FieldSize(message, field);
        for (int j = 0; j < size; ++j) WriteScalar(message, field, j, sink);
        sink.EndArray();
      } else if (field->has_presence() && !r->HasField(message, field)) {
        continue;  // an unset message, or an unset optional
      } else {
        sink.Key(field->json_name());
        WriteScalar(message, field, 0, sink);
      }
    }
  }
  sink.EndObject();
}

void WriteMessage(const google::protobuf::Message& message, JsonSink& sink) {
  if (WriteStatusJson(message, sink)) return;
  const std::string& name = message.GetDescriptor()->full_name();
  if (name == "google.protobuf.Timestamp") {
    if (auto* time = dynamic_cast<const google::protobuf::Timestamp*>(&message)) {
      return sink.String(google::protobuf::util::TimeUtil::ToString(*time));
    }
  } else if (name == "google.protobuf.Duration") {
    if (auto* duration = dynamic_cast<const google::protobuf::Duration*>(&message)) {
      return sink.String(google::protobuf::util::TimeUtil::ToString(*duration));
    }
  }
  if (message.GetDescriptor()->file()->package() == "google.protobuf") {
    return sink.Json(GenericJson(message));
  }
  WriteFields(message, sink);
}

}  // namespace

OrderedJson ProtoToJson(const google::protobuf::Message& message) {
  JsonTree tree;
  WriteFields(message, tree);
  return tree.Take();
}

std::string ProtoJsonText(const google::protobuf::Message& message) {
  std::string text;
  JsonText sink(&text);
  WriteFields(message, sink);
  return text;
}

void PrintJson(const OrderedJson& json) {
  std::string text = json.dump(2, ' ', false, OrderedJson::error_handler_t::replace);
  text += '\n';
  fwrite(text.data(), 1, text.size(), stdout);
}

void PrintProtoJson(const google::protobuf::Message& message) {
  std::string text = ProtoJsonText(message);
  text += '\n';
  fwrite(text.data(), 1, text.size(), stdout);
}

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  fwrite(out.data(), 1, out.size(), stdout);
}

std::string Compact(absl::Duration d) {
  if (d < absl::ZeroDuration()) d = absl::ZeroDuration();
  const int64_t ms = absl::ToInt64Milliseconds(d);
  const int64_t s = ms / 1000;
  if (s < 1) return absl::StrCat(ms, "ms");
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  if (s < 86400) return absl::StrFormat("%dh%02dm", s / 3600, s % 3600 / 60);
  return absl::StrFormat("%dd%02dh", s / 86400, s % 86400 / 3600);
}

std::string Since(const google::protobuf::Timestamp& start) {
  if (start.seconds() == 0 && start.nanos() == 0) return "-";
  return Compact(absl::Now() - FromProtoTime(start));
}

std::string StateName(int state, bool guardian) {
  // Not GuardianState_Name: it builds the descriptors of the whole .proto
  // file and its imports (0.3 ms of a 3 ms command).
  const char* known = guardian ? EnumName(static_cast<v1::GuardianState>(state))
                               : EnumName(static_cast<v1::WorkerState>(state));
  const std::string name = known == nullptr ? "" : known;
  const std::string prefix = guardian ? "GUARDIAN_STATE_" : "WORKER_STATE_";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

std::string LastExit(const v1::ProcessRun& run) {
  std::string text = run.description();
  if (run.has_end_time()) absl::StrAppend(&text, ", ", Since(run.end_time()), " ago");
  if (!run.error().empty()) absl::StrAppend(&text, ": ", run.error());
  return text;
}

}  // namespace appkit::ctl
