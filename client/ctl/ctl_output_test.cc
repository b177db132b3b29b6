// appkitctl's printing: 64-bit fields as JSON numbers, compact durations.
#include "client/ctl/ctl_output.h"

#include "absl/strings/numbers.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "proto/controller.pb.h"
#include "proto/guardian.pb.h"

namespace appkit::ctl {
namespace {

TEST(CtlOutputTest, Int64FieldsPrintAsNumbersEverywhereInTheMessage) {
  v1::ListWorkersResponse list;
  list.set_controller_pid(4242);
  v1::WorkerStatus* worker = list.add_workers();
  worker->set_name("w1");
  worker->mutable_current()->set_pid(17247);
  worker->mutable_current()->mutable_start_time()->set_seconds(1700000000);
  worker->add_history()->set_pid(17000);
  OrderedJson json = ProtoToJson(list);
  EXPECT_EQ(json["controllerPid"], 4242);
  EXPECT_TRUE(json["controllerPid"].is_number_integer());
  EXPECT_EQ(json["workers"][0]["current"]["pid"], 17247);
  EXPECT_EQ(json["workers"][0]["history"][0]["pid"], 17000);
  // Well-known types keep their JSON forms; defaults are printed.
  EXPECT_EQ(json["workers"][0]["current"]["startTime"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(json["workers"][0]["restartCount"], 0);
  EXPECT_EQ(json["workers"][0]["state"], "WORKER_STATE_UNSPECIFIED");
}

TEST(CtlOutputTest, GuardianStatusKeepsItsKeyOrder) {
  v1::GuardianStatus status;
  status.set_guardian_pid(7);
  status.mutable_executor()->set_pid(8);
  OrderedJson json = ProtoToJson(status);
  EXPECT_EQ(json.begin().key(), "guardianPid");
  EXPECT_EQ(json["guardianPid"], 7);
  EXPECT_EQ(json["executor"]["pid"], 8);
}

// Every field set (two elements of each repeated field), recursively.
void FillAll(google::protobuf::Message* message, int depth) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Descriptor* type = message->GetDescriptor();
  const google::protobuf::Reflection* r = message->GetReflection();
  if (type->full_name() == "google.protobuf.Timestamp" ||
      type->full_name() == "google.protobuf.Duration") {
    r->SetInt64(message, type->FindFieldByName("seconds"), 1700000000 + depth);
    r->SetInt32(message, type->FindFieldByName("nanos"), 5000000 * depth);
    return;
  }
  if (type->file()->package() == "google.protobuf" || depth > 3) return;
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    for (int n = 0; n < (field->is_repeated() ? 2 : 1); ++n) {
      const int64_t v = 4000000000LL + i * 10 + n;
      switch (field->cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT32:
          field->is_repeated() ? r->AddInt32(message, field, i + n)
                               : r->SetInt32(message, field, i);
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          field->is_repeated() ? r->AddInt64(message, field, v) : r->SetInt64(message, field, v);
          break;
        case FieldDescriptor::CPPTYPE_UINT32:
          field->is_repeated() ? r->AddUInt32(message, field, i) : r->SetUInt32(message, field, i);
          break;
        case FieldDescriptor::CPPTYPE_UINT64:
          field->is_repeated() ? r->AddUInt64(message, field, v) : r->SetUInt64(message, field, v);
          break;
        case FieldDescriptor::CPPTYPE_BOOL:
          field->is_repeated() ? r->AddBool(message, field, true)
                               : r->SetBool(message, field, true);
          break;
        case FieldDescriptor::CPPTYPE_ENUM: {
          const int last = field->enum_type()->value_count() - 1;
          field->is_repeated() ? r->AddEnumValue(message, field, last)
                               : r->SetEnumValue(message, field, last);
          break;
        }
        case FieldDescriptor::CPPTYPE_STRING: {
          const std::string text = field->name() + "-" + std::to_string(n) + "\"é";
          field->is_repeated() ? r->AddString(message, field, text)
                               : r->SetString(message, field, text);
          break;
        }
        case FieldDescriptor::CPPTYPE_MESSAGE:
          FillAll(field->is_repeated() ? r->AddMessage(message, field)
                                       : r->MutableMessage(message, field),
                  depth + 1);
          break;
        default:
          break;
      }
    }
  }
}

// Numbers as the generic printer's strings: both sides compared alike.
void Normalize(OrderedJson& json) {
  if (json.is_string()) {
    int64_t value;
    if (absl::SimpleAtoi(json.get_ref<const std::string&>(), &value)) json = value;
  } else if (json.is_structured()) {
    for (auto& item : json) Normalize(item);
  }
}

OrderedJson Generic(const google::protobuf::Message& message) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(message, &text, options).ok());
  OrderedJson json = OrderedJson::parse(text);
  Normalize(json);
  return json;
}

void ExpectSameAsGenericPrinter(const google::protobuf::Message& message) {
  OrderedJson ours = ProtoToJson(message);
  Normalize(ours);
  EXPECT_EQ(ours.dump(2), Generic(message).dump(2)) << message.GetTypeName();
}

// The reflection printer writes what the generic JSON printer writes, key
// order included, for the messages appkitctl prints: empty and full.
TEST(CtlOutputTest, SameJsonAsTheGenericPrinter) {
  v1::GuardianStatus status;
  ExpectSameAsGenericPrinter(status);
  FillAll(&status, 0);
  ExpectSameAsGenericPrinter(status);
  v1::ListWorkersResponse list;
  ExpectSameAsGenericPrinter(list);
  FillAll(&list, 0);
  ExpectSameAsGenericPrinter(list);
  list.mutable_workers(0)->mutable_current()->mutable_start_time()->set_nanos(0);
  list.mutable_workers(1)->mutable_current()->Clear();
  ExpectSameAsGenericPrinter(list);
}

TEST(CtlOutputTest, CompactDurations) {
  EXPECT_EQ(Compact(absl::Milliseconds(850)), "850ms");
  EXPECT_EQ(Compact(absl::Seconds(42)), "42s");
  EXPECT_EQ(Compact(absl::Seconds(303)), "5m03s");
  EXPECT_EQ(Compact(absl::Minutes(125)), "2h05m");
  EXPECT_EQ(Compact(absl::Hours(76)), "3d04h");
  EXPECT_EQ(Compact(-absl::Seconds(1)), "0ms");
}

TEST(CtlOutputTest, StateNamesLoseTheirPrefix) {
  EXPECT_EQ(StateName(v1::GUARDIAN_STATE_WAITING_TO_RESTART, true), "WAITING_TO_RESTART");
  EXPECT_EQ(StateName(v1::WORKER_STATE_RUNNING, false), "RUNNING");
}

}  // namespace
}  // namespace appkit::ctl
