// Where appkitctl's protobuf-to-JSON walk (ctl_output.cc) puts what it
// finds: the same walk either builds an OrderedJson tree (for commands that
// add keys of their own) or writes the pretty text straight away (for a
// whole message printed as it is, such as 200 workers).
//
// JsonText writes exactly the bytes of
// OrderedJson::dump(2, ' ', false, error_handler_t::replace) of the tree
// JsonTree builds from the same calls: two-space indents, "{}" and "[]"
// when empty, UTF-8 left as it is, invalid UTF-8 replaced by U+FFFD.
//
// The calls must form one JSON value: Key() before each value inside an
// object, none inside an array; Begin/End balanced.
#ifndef APPKIT_CLIENT_CTL_JSON_SINK_H_
#define APPKIT_CLIENT_CTL_JSON_SINK_H_

#include <stdint.h>

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace appkit::ctl {

using OrderedJson = nlohmann::ordered_json;

class JsonSink {
 public:
  virtual ~JsonSink() = default;
  virtual void BeginObject() = 0;
  virtual void EndObject() = 0;
  virtual void BeginArray() = 0;
  virtual void EndArray() = 0;
  // The key of the next value, inside an object; the sink, for the value.
  virtual JsonSink& Key(absl::string_view key) = 0;
  virtual void String(absl::string_view text) = 0;
  virtual void Int(int64_t value) = 0;
  virtual void UInt(uint64_t value) = 0;
  virtual void Bool(bool value) = 0;
  // A value built elsewhere (null included).
  virtual void Json(const OrderedJson& value) = 0;
};

// Builds the tree.
class JsonTree : public JsonSink {
 public:
  void BeginObject() override;
  void EndObject() override;
  void BeginArray() override;
  void EndArray() override;
  JsonSink& Key(absl::string_view key) override;
  void String(absl::string_view text) override;
  void Int(int64_t value) override;
  void UInt(uint64_t value) override;
  void Bool(bool value) override;
  void Json(const OrderedJson& value) override;

  // The value built; the sink is empty afterwards.
  OrderedJson Take();

 private:
  // Where the next value goes.
  OrderedJson& Slot();

  OrderedJson root_;
  std::vector<OrderedJson*> open_;  // the objects and arrays not yet ended
  std::string key_;
};

// Appends the pretty text to a string.
class JsonText : public JsonSink {
 public:
  explicit JsonText(std::string* out) : out_(out) {}

  void BeginObject() override;
  void EndObject() override;
  void BeginArray() override;
  void EndArray() override;
  JsonSink& Key(absl::string_view key) override;
  void String(absl::string_view text) override;
  void Int(int64_t value) override;
  void UInt(uint64_t value) override;
  void Bool(bool value) override;
  void Json(const OrderedJson& value) override;

 private:
  // The separator and indent before a value (inside an array) or a key.
  void Separate();
  // Separate(), for a value inside an array (after a key, nothing).
  void BeforeValue();
  void Begin(char open);
  void End(char close);
  void Quoted(absl::string_view text);

  std::string* out_;
  struct Level {
    bool in_array;
    bool empty;
  };
  std::vector<Level> open_;
};

}  // namespace appkit::ctl

#endif  // APPKIT_CLIENT_CTL_JSON_SINK_H_
