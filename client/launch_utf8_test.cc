// CheckLaunchUtf8 and CheckLoggingConfigUtf8 against the reflective
// CheckUtf8Fields: for every string field reachable from DaemonLaunch or
// LoggingConfig (found by reflection, so a field added to the protos and
// not to launch_utf8.cc fails here), a message with that one field not
// UTF-8 gets the same error from both.
#include "client/launch_utf8.h"

#include <functional>
#include <string>
#include <vector>

#include "common/host/option_checks.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "gtest/gtest.h"

namespace appkit::internal {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

constexpr char kBad[] = "bad\xff";

// Every string field under `type` (map entries included), as a chain of
// fields from the top; daemon_args (a Struct) has a checker of its own,
// covered below.
void StringFields(const Descriptor* type, std::vector<const FieldDescriptor*> chain,
                  std::vector<std::vector<const FieldDescriptor*>>* out) {
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    if (field->name() == "daemon_args") continue;
    std::vector<const FieldDescriptor*> here = chain;
    here.push_back(field);
    if (field->type() == FieldDescriptor::TYPE_STRING) out->push_back(here);
    if (field->type() == FieldDescriptor::TYPE_MESSAGE)
      StringFields(field->message_type(), here, out);
  }
}

// Sets the field at the end of `chain` in `message` to `value` (a repeated
// one gets a good element first; a map entry's key is `key`).
void SetBad(Message* message, const std::vector<const FieldDescriptor*>& chain, size_t at,
            const std::string& key, const std::string& value) {
  const FieldDescriptor* field = chain[at];
  const Reflection* reflection = message->GetReflection();
  if (at + 1 == chain.size()) {
    if (field->is_repeated()) {
      reflection->AddString(message, field, "good");
      reflection->AddString(message, field, value);
    } else {
      reflection->SetString(message, field, value);
    }
    return;
  }
  Message* child = field->is_repeated() ? reflection->AddMessage(message, field)
                                        : reflection->MutableMessage(message, field);
  if (field->is_map()) {
    // The entry: its key (chain[at + 1] is key or value).
    const FieldDescriptor* key_field = field->message_type()->map_key();
    if (chain[at + 1] != key_field) child->GetReflection()->SetString(child, key_field, key);
  }
  SetBad(child, chain, at + 1, key, value);
}

// For every string field under `base`'s type: `base` with that one field
// bad gets from `check` what CheckUtf8Fields(option, ...) says. Returns how
// many fields were tried.
template <typename M>
size_t ExpectTheReflectiveErrorForEveryStringField(
    const M& base, const std::string& option, const std::function<absl::Status(const M&)>& check) {
  std::vector<std::vector<const FieldDescriptor*>> fields;
  StringFields(M::descriptor(), {}, &fields);
  for (const auto& chain : fields) {
    std::string name;
    for (const FieldDescriptor* field : chain) name += "." + field->name();
    M message = base;
    SetBad(&message, chain, 0, "KEY", kBad);
    const absl::Status reflective = CheckUtf8Fields(option, message);
    EXPECT_FALSE(reflective.ok()) << name;
    EXPECT_EQ(check(message), reflective) << name;
  }
  return fields.size();
}

TEST(LaunchUtf8Test, EveryStringFieldGetsTheReflectiveCheckersError) {
  v1::DaemonLaunch launch;
  launch.set_pid_filename("/run/d.pid");
  EXPECT_GT(ExpectTheReflectiveErrorForEveryStringField<v1::DaemonLaunch>(launch, "DaemonLaunch",
                                                                          CheckLaunchUtf8),
            15u);
}

TEST(LaunchUtf8Test, EveryStringFieldOfALoggingConfigGetsTheReflectiveCheckersError) {
  const std::string option = "DaemonOptions.logging_config";
  EXPECT_GE(
      ExpectTheReflectiveErrorForEveryStringField<v1::LoggingConfig>(
          v1::LoggingConfig(), option,
          [&](const v1::LoggingConfig& config) { return CheckLoggingConfigUtf8(option, config); }),
      9u);
}

TEST(LaunchUtf8Test, AMapKeyIsNamedAsTheReflectiveCheckerNamesIt) {
  v1::DaemonLaunch launch;
  (*launch.mutable_command()->mutable_environment())[kBad] = "value";
  const absl::Status reflective = CheckUtf8Fields("DaemonLaunch", launch);
  ASSERT_FALSE(reflective.ok());
  EXPECT_EQ(CheckLaunchUtf8(launch), reflective);
  EXPECT_NE(reflective.message().find("a key of DaemonLaunch.command.environment"),
            std::string::npos)
      << reflective;
}

TEST(LaunchUtf8Test, ArgsAreCheckedByTheirOwnChecker) {
  v1::DaemonLaunch args;
  (*args.mutable_daemon_args()->mutable_fields())["k"].set_string_value(kBad);
  EXPECT_EQ(CheckLaunchUtf8(args), CheckArgsStruct("DaemonLaunch.daemon_args", args.daemon_args()));
  EXPECT_FALSE(CheckLaunchUtf8(args).ok());
}

TEST(LaunchUtf8Test, AValidLaunchWithEveryFieldSetPasses) {
  v1::DaemonLaunch launch;
  std::vector<std::vector<const FieldDescriptor*>> fields;
  StringFields(v1::DaemonLaunch::descriptor(), {}, &fields);
  for (const auto& chain : fields) SetBad(&launch, chain, 0, "KÉY", "välue");
  (*launch.mutable_daemon_args()->mutable_fields())["k"].set_string_value("ü");
  ASSERT_TRUE(CheckUtf8Fields("DaemonLaunch", launch).ok());
  EXPECT_TRUE(CheckLaunchUtf8(launch).ok());
}

}  // namespace
}  // namespace appkit::internal
