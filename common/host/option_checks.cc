#include "common/host/option_checks.h"

#include "absl/strings/str_cat.h"
#include "common/runtime/args.h"
#include "google/protobuf/descriptor.h"

namespace appkit::internal {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

absl::Status NotUtf8(const std::string& what, std::string_view value) {
  return absl::InvalidArgumentError(absl::StrCat(
      what, " \"", EscapeBytes(value),
      "\" is not valid UTF-8 (appkit passes it in protobuf messages, which carry UTF-8 text "
      "only): use a name made of UTF-8 characters"));
}

std::string Quoted(std::string_view key) { return "[\"" + EscapeBytes(key) + "\"]"; }

// Messages nest only as deep as their schema allows, except Struct (checked
// by CheckArgsStruct first); this bounds the recursion all the same.
constexpr int kMaxMessageDepth = 100;

absl::Status CheckFields(const std::string& path, const Message& message, int depth);

absl::Status CheckValue(const std::string& path, const Message& message,
                        const FieldDescriptor* field, int index, int depth) {
  const Reflection* reflection = message.GetReflection();
  if (field->type() == FieldDescriptor::TYPE_STRING) {
    std::string scratch;
    const std::string& value =
        index < 0 ? reflection->GetStringReference(message, field, &scratch)
                  : reflection->GetRepeatedStringReference(message, field, index, &scratch);
    if (!IsValidUtf8(value)) return NotUtf8(path, value);
    return absl::OkStatus();
  }
  if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) return absl::OkStatus();
  const Message& child = index < 0 ? reflection->GetMessage(message, field)
                                   : reflection->GetRepeatedMessage(message, field, index);
  return CheckFields(path, child, depth + 1);
}

absl::Status CheckFields(const std::string& path, const Message& message, int depth) {
  if (depth > kMaxMessageDepth) {
    return absl::InvalidArgumentError(absl::StrCat(path, " nests too deep"));
  }
  const Reflection* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    const std::string name = absl::StrCat(path, ".", field->name());
    if (!field->is_repeated()) {
      if (absl::Status s = CheckValue(name, message, field, -1, depth); !s.ok()) return s;
      continue;
    }
    const int size = reflection->FieldSize(message, field);
    for (int i = 0; i < size; ++i) {
      if (field->is_map()) {
        // A map entry: its key names it.
        const Message& entry = reflection->GetRepeatedMessage(message, field, i);
        const FieldDescriptor* key = entry.GetDescriptor()->map_key();
        std::string key_text;
        if (key->type() == FieldDescriptor::TYPE_STRING) {
          key_text = entry.GetReflection()->GetString(entry, key);
          if (!IsValidUtf8(key_text)) return NotUtf8(absl::StrCat("a key of ", name), key_text);
        }
        const std::string entry_path =
            key_text.empty() ? absl::StrCat(name, "[", i, "]") : name + Quoted(key_text);
        const FieldDescriptor* value = entry.GetDescriptor()->map_value();
        if (absl::Status s = CheckValue(entry_path, entry, value, -1, depth); !s.ok()) return s;
        continue;
      }
      if (absl::Status s = CheckValue(absl::StrCat(name, "[", i, "]"), message, field, i, depth);
          !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CheckStructValue(const std::string& path, const google::protobuf::Value& value,
                              int depth);

absl::Status CheckStruct(const std::string& path, const google::protobuf::Struct& object,
                         int depth) {
  if (depth > kMaxArgsDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " nests deeper than ", kMaxArgsDepth, " levels of objects and lists"));
  }
  for (const auto& [key, value] : object.fields()) {
    if (!IsValidUtf8(key)) return NotUtf8(absl::StrCat("a key in ", path), key);
    if (absl::Status s = CheckStructValue(path + Quoted(key), value, depth); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status CheckStructValue(const std::string& path, const google::protobuf::Value& value,
                              int depth) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kStringValue:
      if (!IsValidUtf8(value.string_value())) return NotUtf8(path, value.string_value());
      return absl::OkStatus();
    case google::protobuf::Value::kStructValue:
      return CheckStruct(path, value.struct_value(), depth + 1);
    case google::protobuf::Value::kListValue: {
      if (depth + 1 > kMaxArgsDepth) {
        return absl::InvalidArgumentError(absl::StrCat(path, " nests deeper than ", kMaxArgsDepth,
                                                       " levels of objects and lists"));
      }
      const auto& values = value.list_value().values();
      for (int i = 0; i < values.size(); ++i) {
        if (absl::Status s =
                CheckStructValue(absl::StrCat(path, "[", i, "]"), values[i], depth + 1);
            !s.ok()) {
          return s;
        }
      }
      return absl::OkStatus();
    }
    default:
      return absl::OkStatus();
  }
}

}  // namespace

absl::Status CheckDurationOption(const std::string& option, absl::Duration value, bool zero_ok) {
  if (value < absl::ZeroDuration() || (!zero_ok && value == absl::ZeroDuration())) {
    return absl::InvalidArgumentError(absl::StrCat(option, " ", absl::FormatDuration(value), " is ",
                                                   zero_ok ? "negative" : "not positive"));
  }
  if (value > kMaxOptionDuration) {
    return absl::InvalidArgumentError(
        absl::StrCat(option, " ", absl::FormatDuration(value), " is longer than the maximum of ",
                     absl::FormatDuration(kMaxOptionDuration), " (365 days)"));
  }
  return absl::OkStatus();
}

bool IsValidUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int length;
    unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;   // no overlong forms
      if (c == 0xED) high = 0x9F;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;   // no overlong forms
      if (c == 0xF4) high = 0x8F;  // nothing above U+10FFFF
    } else {
      return false;  // a continuation byte, C0/C1 (overlong), or F5..FF
    }
    if (end - p < length) return false;
    if (p[1] < low || p[1] > high) return false;
    for (int i = 2; i < length; ++i) {
      if (p[i] < 0x80 || p[i] > 0xBF) return false;
    }
    p += length;
  }
  return true;
}

std::string EscapeBytes(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '"':
        out += "\\\"";
        continue;
      default:
        break;
    }
    if (c >= 0x20 && c < 0x7F) {
      out += ch;
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

absl::Status CheckUtf8Option(const std::string& option, std::string_view value) {
  if (!IsValidUtf8(value)) return NotUtf8(option, value);
  return absl::OkStatus();
}

absl::Status CheckUtf8Fields(const std::string& option, const Message& message) {
  return CheckFields(option, message, 0);
}

absl::Status CheckArgsStruct(const std::string& option, const google::protobuf::Struct& args) {
  return CheckStruct(option, args, 1);
}

}  // namespace appkit::internal
