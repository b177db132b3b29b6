// appkit::Args: the keyword arguments of an entry (pyappkit's **kwargs),
// a JSON object held as a google.protobuf.Struct.
//
//   auto args = appkit::Args::FromJson(R"({"foo": 3, "name": "x"})");
//   int64_t foo = *args->GetInt("foo");
//   args->Set("debug", true);
//
// Getters return an error that names the key and the type found
// ("args key 'foo' is a string, not an integer"). A value type; copies are
// independent. Not synchronised: share across threads only read-only.
#ifndef APPKIT_COMMON_ARGS_H_
#define APPKIT_COMMON_ARGS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"

namespace appkit {

// How deep args may nest: objects and lists, the top-level object counting
// as 1. Deeper args would not survive protobuf's limits on their way to the
// entry (its recursion limit, its JSON printer); FromJson, StartDaemon and
// StartWorkers refuse them.
inline constexpr int kMaxArgsDepth = 32;

class Args {
 public:
  Args() = default;
  explicit Args(google::protobuf::Struct proto) : proto_(std::move(proto)) {}

  // `json` must be a JSON object nested at most kMaxArgsDepth deep;
  // anything else is InvalidArgument.
  static absl::StatusOr<Args> FromJson(std::string_view json);
  std::string ToJson() const;

  bool Has(std::string_view key) const;
  absl::StatusOr<int64_t> GetInt(std::string_view key) const;
  absl::StatusOr<double> GetDouble(std::string_view key) const;
  absl::StatusOr<std::string> GetString(std::string_view key) const;
  absl::StatusOr<bool> GetBool(std::string_view key) const;

  Args& Set(std::string_view key, int64_t value);
  Args& Set(std::string_view key, int value) { return Set(key, static_cast<int64_t>(value)); }
  Args& Set(std::string_view key, double value);
  Args& Set(std::string_view key, bool value);
  Args& Set(std::string_view key, std::string_view value);
  Args& Set(std::string_view key, const char* value) { return Set(key, std::string_view(value)); }
  Args& Set(std::string_view key, const std::string& value) {
    return Set(key, std::string_view(value));
  }

  const google::protobuf::Struct& proto() const { return proto_; }
  google::protobuf::Struct* mutable_proto() { return &proto_; }

 private:
  absl::StatusOr<const google::protobuf::Value*> Find(std::string_view key) const;

  google::protobuf::Struct proto_;
};

}  // namespace appkit

#endif  // APPKIT_COMMON_ARGS_H_
