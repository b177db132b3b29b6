#include "common/runtime/args.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"

namespace appkit {
namespace {

std::string TypeName(const google::protobuf::Value& value) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kNullValue:
      return "null";
    case google::protobuf::Value::kNumberValue:
      return "a number";
    case google::protobuf::Value::kStringValue:
      return "a string";
    case google::protobuf::Value::kBoolValue:
      return "a boolean";
    case google::protobuf::Value::kStructValue:
      return "an object";
    case google::protobuf::Value::kListValue:
      return "a list";
    default:
      return "empty";
  }
}

absl::Status WrongType(std::string_view key, const google::protobuf::Value& value,
                       std::string_view wanted) {
  return absl::InvalidArgumentError(absl::StrCat("args key '", std::string(key), "' is ",
                                                 TypeName(value), ", not ", std::string(wanted)));
}

std::string Snippet(absl::string_view text) {
  if (text.size() <= 40) return std::string(text);
  return std::string(text.substr(0, 40)) + "...";
}

// A SAX handler that only counts nesting: parsing stops past kMaxArgsDepth.
struct DepthCheck {
  using json = nlohmann::json;
  int depth = 0;
  bool too_deep = false;

  bool Open() {
    if (++depth > kMaxArgsDepth) too_deep = true;
    return !too_deep;
  }
  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(json::number_integer_t) { return true; }
  bool number_unsigned(json::number_unsigned_t) { return true; }
  bool number_float(json::number_float_t, const json::string_t&) { return true; }
  bool string(json::string_t&) { return true; }
  bool binary(json::binary_t&) { return true; }
  bool start_object(std::size_t) { return Open(); }
  bool key(json::string_t&) { return true; }
  bool end_object() {
    --depth;
    return true;
  }
  bool start_array(std::size_t) { return Open(); }
  bool end_array() {
    --depth;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return false;
  }
};

}  // namespace

absl::StatusOr<Args> Args::FromJson(std::string_view json) {
  absl::string_view trimmed =
      absl::StripLeadingAsciiWhitespace(absl::string_view(json.data(), json.size()));
  if (trimmed.empty() || trimmed.front() != '{') {
    return absl::InvalidArgumentError(
        absl::StrCat("args must be a JSON object like {\"x\": 1}, got: ", Snippet(trimmed)));
  }
  // protobuf's parser is lenient (single quotes, ...) and slow on deep
  // nesting (quadratic: minutes for 100,000 nested lists): check strict
  // JSON (RFC 8259) and the depth first, without building a tree.
  DepthCheck check;
  if (!nlohmann::json::sax_parse(json.begin(), json.end(), &check)) {
    if (check.too_deep) {
      return absl::InvalidArgumentError(
          absl::StrCat("args nest deeper than ", kMaxArgsDepth,
                       " levels of objects and lists: ", Snippet(trimmed)));
    }
    return absl::InvalidArgumentError(absl::StrCat("args are not valid JSON: ", Snippet(trimmed)));
  }
  Args args;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &args.proto_);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "args are not valid JSON (", status.message().as_string(), "): ", Snippet(trimmed)));
  }
  return args;
}

std::string Args::ToJson() const {
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(proto_, &json);
  return json;
}

bool Args::Has(std::string_view key) const { return proto_.fields().count(std::string(key)) > 0; }

absl::StatusOr<const google::protobuf::Value*> Args::Find(std::string_view key) const {
  auto it = proto_.fields().find(std::string(key));
  if (it == proto_.fields().end()) {
    return absl::NotFoundError(absl::StrCat("args has no key '", std::string(key), "'"));
  }
  return &it->second;
}

absl::StatusOr<int64_t> Args::GetInt(std::string_view key) const {
  auto value = Find(key);
  if (!value.ok()) return value.status();
  if ((*value)->kind_case() != google::protobuf::Value::kNumberValue) {
    return WrongType(key, **value, "an integer");
  }
  double number = (*value)->number_value();
  if (std::trunc(number) != number || std::fabs(number) > 9007199254740992.0) {
    return absl::InvalidArgumentError(
        absl::StrCat("args key '", std::string(key), "' is ", number, ", not an integer"));
  }
  return static_cast<int64_t>(number);
}

absl::StatusOr<double> Args::GetDouble(std::string_view key) const {
  auto value = Find(key);
  if (!value.ok()) return value.status();
  if ((*value)->kind_case() != google::protobuf::Value::kNumberValue) {
    return WrongType(key, **value, "a number");
  }
  return (*value)->number_value();
}

absl::StatusOr<std::string> Args::GetString(std::string_view key) const {
  auto value = Find(key);
  if (!value.ok()) return value.status();
  if ((*value)->kind_case() != google::protobuf::Value::kStringValue) {
    return WrongType(key, **value, "a string");
  }
  return (*value)->string_value();
}

absl::StatusOr<bool> Args::GetBool(std::string_view key) const {
  auto value = Find(key);
  if (!value.ok()) return value.status();
  if ((*value)->kind_case() != google::protobuf::Value::kBoolValue) {
    return WrongType(key, **value, "a boolean");
  }
  return (*value)->bool_value();
}

Args& Args::Set(std::string_view key, int64_t value) {
  (*proto_.mutable_fields())[std::string(key)].set_number_value(static_cast<double>(value));
  return *this;
}

Args& Args::Set(std::string_view key, double value) {
  (*proto_.mutable_fields())[std::string(key)].set_number_value(value);
  return *this;
}

Args& Args::Set(std::string_view key, bool value) {
  (*proto_.mutable_fields())[std::string(key)].set_bool_value(value);
  return *this;
}

Args& Args::Set(std::string_view key, std::string_view value) {
  (*proto_.mutable_fields())[std::string(key)].set_string_value(std::string(value));
  return *this;
}

}  // namespace appkit
