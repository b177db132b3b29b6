// appkitctl's printing: 64-bit fields as JSON numbers, compact durations.
#include "client/ctl/ctl_output.h"

#include <stdio.h>

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "client/ctl/status_json.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/struct.pb.h"
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

// The text written straight from the message is the tree's text, byte for
// byte (PrintJson's dump).
void ExpectTextAsTheTree(const google::protobuf::Message& message) {
  EXPECT_EQ(ProtoJsonText(message),
            ProtoToJson(message).dump(2, ' ', false, OrderedJson::error_handler_t::replace))
      << message.GetTypeName();
}

void ExpectSameAsGenericPrinter(const google::protobuf::Message& message) {
  OrderedJson ours = ProtoToJson(message);
  Normalize(ours);
  EXPECT_EQ(ours.dump(2), Generic(message).dump(2)) << message.GetTypeName();
  ExpectTextAsTheTree(message);
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
  // Empty repeated fields, inside a list of messages.
  list.mutable_workers(0)->clear_history();
  ExpectSameAsGenericPrinter(list);
}

// Messages with a map, a Struct, a Duration and a oneof (the generic
// printer's JSON, embedded at its depth), and the watch streams' messages.
TEST(CtlOutputTest, SameJsonAsTheGenericPrinterForMapsStructsAndEvents) {
  v1::AddWorkerRequest add;
  ExpectSameAsGenericPrinter(add);
  v1::WorkerSpec* spec = add.mutable_spec();
  ExpectSameAsGenericPrinter(add);
  FillAll(spec, 1);
  (*spec->mutable_environment())["B"] = "two\nlines";
  (*spec->mutable_environment())["A"] = "é\t\"q\"";
  auto& args = *spec->mutable_args()->mutable_fields();
  args["count"].set_number_value(200);
  args["ratio"].set_number_value(0.25);
  args["name"].set_string_value("w\u0001\\");
  args["on"].set_bool_value(true);
  args["none"].set_null_value(google::protobuf::NULL_VALUE);
  args["list"].mutable_list_value()->add_values()->set_string_value("x");
  args["list"].mutable_list_value()->add_values()->mutable_struct_value();
  (*args["nested"].mutable_struct_value()->mutable_fields())["deep"].mutable_list_value();
  spec->mutable_ready_timeout()->set_seconds(2);
  spec->mutable_watchdog_timeout()->set_nanos(200000000);
  ExpectSameAsGenericPrinter(*spec);
  ExpectSameAsGenericPrinter(add);

  v1::GuardianEvent guardian_event;
  ExpectSameAsGenericPrinter(guardian_event);
  FillAll(guardian_event.mutable_event(), 1);
  ExpectSameAsGenericPrinter(guardian_event);
  FillAll(guardian_event.mutable_snapshot(), 1);
  ExpectSameAsGenericPrinter(guardian_event);
  v1::ControllerEvent controller_event;
  FillAll(controller_event.mutable_snapshot(), 1);
  ExpectSameAsGenericPrinter(controller_event);
  controller_event.mutable_snapshot()->clear_workers();
  ExpectSameAsGenericPrinter(controller_event);
}

// Strings the fast path does not write as they are: escapes, control
// characters, DEL, UTF-8 of 2, 3 and 4 bytes.
TEST(CtlOutputTest, SameJsonAsTheGenericPrinterForStringsNeedingEscapes) {
  for (const std::string& text :
       {std::string("quote \" backslash \\ slash /"), std::string("\b\f\n\r\t"),
        std::string("\x01\x1f\x7f", 3), std::string("nul \0 inside", 13),
        std::string("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), std::string(),
        std::string(" "), std::string("plain w0")}) {
    v1::WorkerStatus worker;
    worker.set_name(text);
    worker.set_notify_status(text);
    worker.add_history()->set_error(text);
    ExpectSameAsGenericPrinter(worker);
  }
}

// Invalid UTF-8 (which a parsed proto3 string never has) is replaced by
// U+FFFD the way PrintJson's dump replaces it.
TEST(CtlOutputTest, InvalidUtf8IsReplacedAsThePrintJsonDumpReplacesIt) {
  for (const std::string& text : {std::string("a\xff b"), std::string("cut \xe2\x82"),
                                  std::string("\xc3(\xa9"), std::string("\xed\xa0\x80")}) {
    v1::WorkerStatus worker;
    worker.set_name(text);
    worker.mutable_current()->set_description(text);
    ExpectTextAsTheTree(worker);
  }
}

// A pool as `appkitctl workers --json` prints it, byte for byte.
TEST(CtlOutputTest, WorkersTextIsTheTreesText) {
  v1::ListWorkersResponse list;
  list.set_controller_pid(4242);
  for (int i = 0; i < 3; ++i) {
    v1::WorkerStatus* worker = list.add_workers();
    worker->set_name("w" + std::to_string(i));
    worker->set_state(v1::WORKER_STATE_RUNNING);
    worker->mutable_current()->set_pid(100 + i);
    worker->mutable_current()->mutable_start_time()->set_seconds(1700000000 + i);
  }
  const std::string text = ProtoJsonText(list);
  EXPECT_EQ(text, ProtoToJson(list).dump(2, ' ', false, OrderedJson::error_handler_t::replace));
  EXPECT_EQ(text.substr(0, 27), "{\n  \"controllerPid\": 4242,\n");
  EXPECT_NE(text.find("\n      \"current\": {\n        \"pid\": 100,\n"), std::string::npos);
}

// Enum values the reflection walk cannot name print as numbers, also from
// the status messages' own writer (status_json.cc).
TEST(CtlOutputTest, UnknownEnumValuesPrintAsNumbers) {
  v1::GuardianStatus status;
  status.set_state(static_cast<v1::GuardianState>(99));
  ExpectSameAsGenericPrinter(status);
  v1::ListWorkersResponse list;
  list.add_workers()->set_state(static_cast<v1::WorkerState>(-3));
  ExpectSameAsGenericPrinter(list);
  EXPECT_EQ(StateName(99, true), "");
}

// status_json.cc's names are the descriptor's, for every value.
TEST(CtlOutputTest, EnumNamesAreTheDescriptorsNames) {
  const google::protobuf::EnumDescriptor* guardian = v1::GuardianState_descriptor();
  for (int i = 0; i < guardian->value_count(); ++i) {
    const char* name = EnumName(static_cast<v1::GuardianState>(guardian->value(i)->number()));
    ASSERT_NE(name, nullptr) << guardian->value(i)->name();
    EXPECT_EQ(name, guardian->value(i)->name());
  }
  const google::protobuf::EnumDescriptor* worker = v1::WorkerState_descriptor();
  for (int i = 0; i < worker->value_count(); ++i) {
    const char* name = EnumName(static_cast<v1::WorkerState>(worker->value(i)->number()));
    ASSERT_NE(name, nullptr) << worker->value(i)->name();
    EXPECT_EQ(name, worker->value(i)->name());
  }
  EXPECT_EQ(EnumName(static_cast<v1::WorkerState>(worker->value_count())), nullptr);
}

// Printing a pool or a daemon's status, as JSON or as a table, builds no
// descriptor (checked in a fresh process: this one has built them).
TEST(CtlOutputTest, StatusAndWorkersBuildNoDescriptor) {
  const std::string style = GTEST_FLAG_GET(death_test_style);
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // a fresh exec, not a fork
  EXPECT_EXIT(
      {
        v1::ListWorkersResponse list;
        v1::WorkerStatus* worker = list.add_workers();
        worker->mutable_current()->mutable_start_time()->set_seconds(1700000000);
        worker->add_history()->set_error("boom");
        v1::GuardianStatus status;
        status.mutable_executor()->set_pid(8);
        status.mutable_restart_interval()->set_seconds(1);
        status.add_history()->set_error("boom");
        std::string text = ProtoJsonText(list) + ProtoJsonText(status) +
                           ProtoToJson(status).dump() + StateName(2, true) + StateName(2, false) +
                           LastExit(status.history(0));
        const auto* pool = google::protobuf::DescriptorPool::generated_pool();
        const bool built = pool->InternalIsFileLoaded("proto/controller.proto") ||
                           pool->InternalIsFileLoaded("proto/guardian.proto") ||
                           pool->InternalIsFileLoaded("proto/process.proto");
        fprintf(stderr, "%s", built ? "descriptors built\n" : "none built\n");
        std::exit(text.empty() ? 2 : 0);
      },
      testing::ExitedWithCode(0), "none built");
  GTEST_FLAG_SET(death_test_style, style);
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
