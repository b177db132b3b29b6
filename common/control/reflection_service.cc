#include "common/control/reflection_service.h"

#include <atomic>
#include <cstdint>
#include <set>
#include <string_view>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"

namespace appkit {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;

// The fields of reflection.proto (v1alpha) used here.
enum RequestField {
  kHost = 1,
  kFileByFilename = 3,
  kFileContainingSymbol = 4,
  kFileContainingExtension = 5,
  kAllExtensionNumbersOfType = 6,
  kListServices = 7,
};
enum ResponseField {
  kValidHost = 1,
  kOriginalRequest = 2,
  kFileDescriptorResponse = 4,
  kAllExtensionNumbersResponse = 5,
  kListServicesResponse = 6,
  kErrorResponse = 7,
};
constexpr int kNotFound = 5;        // grpc::StatusCode::NOT_FOUND
constexpr int kUnimplemented = 12;  // grpc::StatusCode::UNIMPLEMENTED
constexpr int kInvalid = 3;         // grpc::StatusCode::INVALID_ARGUMENT

// Protobuf wire format, just what these messages need.
void PutVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>(value | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}
void PutBytes(std::string& out, int field, std::string_view value) {
  PutVarint(out, (static_cast<uint64_t>(field) << 3) | 2);
  PutVarint(out, value.size());
  out.append(value);
}
void PutInt(std::string& out, int field, int64_t value) {
  PutVarint(out, static_cast<uint64_t>(field) << 3);
  PutVarint(out, static_cast<uint64_t>(value));
}

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool done() const { return at_ == data_.size(); }
  bool Varint(uint64_t& value) {
    value = 0;
    for (int shift = 0; shift < 64 && at_ < data_.size(); shift += 7) {
      const uint8_t byte = static_cast<uint8_t>(data_[at_++]);
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return true;
    }
    return false;
  }
  // The next field: its number, and its value (bytes, or a varint).
  bool Next(int& field, std::string_view& bytes, uint64_t& number) {
    uint64_t tag;
    if (!Varint(tag)) return false;
    field = static_cast<int>(tag >> 3);
    switch (tag & 7) {
      case 0:
        return Varint(number);
      case 1:
        return Skip(8);
      case 2: {
        uint64_t length;
        if (!Varint(length) || length > data_.size() - at_) return false;
        bytes = data_.substr(at_, length);
        at_ += length;
        return true;
      }
      case 5:
        return Skip(4);
      default:
        return false;
    }
  }

 private:
  bool Skip(size_t n) {
    if (n > data_.size() - at_) return false;
    at_ += n;
    return true;
  }
  std::string_view data_;
  size_t at_ = 0;
};

std::string Error(int code, const std::string& message) {
  std::string error;
  PutInt(error, 1, code);
  PutBytes(error, 2, message);
  return error;
}

// FileDescriptorResponse: `file` first, then every file it depends on.
std::string FileResponse(const FileDescriptor* file) {
  std::string response;
  std::set<const FileDescriptor*> seen;
  std::vector<const FileDescriptor*> todo = {file};
  while (!todo.empty()) {
    const FileDescriptor* next = todo.back();
    todo.pop_back();
    if (!seen.insert(next).second) continue;
    google::protobuf::FileDescriptorProto proto;
    next->CopyTo(&proto);
    PutBytes(response, 1, proto.SerializeAsString());
    for (int i = next->dependency_count() - 1; i >= 0; --i) todo.push_back(next->dependency(i));
  }
  return response;
}

// One reflection stream: read a request, write its answer, until the
// client half-closes. Finished exactly once (OnCancel may race an op).
class ReflectionReactor final : public grpc::ServerGenericBidiReactor {
 public:
  explicit ReflectionReactor(const ReflectionService* service) : service_(service) {
    StartRead(&request_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) return FinishOnce(grpc::Status::OK);  // half-closed, or cancelled
    std::vector<grpc::Slice> slices;
    if (!request_.Dump(&slices).ok()) {
      return FinishOnce(grpc::Status(grpc::StatusCode::INTERNAL, "unreadable request"));
    }
    std::string bytes;
    for (const grpc::Slice& slice : slices) {
      bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
    grpc::Slice answer(service_->Answer(bytes));
    response_ = grpc::ByteBuffer(&answer, 1);
    if (!finished_.load()) StartWrite(&response_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) return FinishOnce(grpc::Status::CANCELLED);
    if (!finished_.load()) StartRead(&request_);
  }
  void OnCancel() override { FinishOnce(grpc::Status::CANCELLED); }
  void OnDone() override { delete this; }

 private:
  void FinishOnce(const grpc::Status& status) {
    if (!finished_.exchange(true)) Finish(status);
  }
  const ReflectionService* const service_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  std::atomic<bool> finished_{false};
};

class UnimplementedReactor final : public grpc::ServerGenericBidiReactor {
 public:
  explicit UnimplementedReactor(const std::string& method) {
    Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "unknown method " + method));
  }
  void OnDone() override { delete this; }
};

}  // namespace

ReflectionService::ReflectionService(std::vector<std::string> services)
    : services_(std::move(services)) {
  services_.push_back(kServiceName);
}

grpc::ServerGenericBidiReactor* ReflectionService::CreateReactor(
    grpc::GenericCallbackServerContext* context) {
  if (context->method() == kMethod) return new ReflectionReactor(this);
  return new UnimplementedReactor(context->method());
}

std::string ReflectionService::Answer(const std::string& request) const {
  std::string host, query, extension_type;
  int kind = 0;
  int64_t extension_number = 0;
  Reader reader(request);
  while (!reader.done()) {
    int field;
    std::string_view bytes;
    uint64_t number = 0;
    if (!reader.Next(field, bytes, number)) {
      kind = -1;
      break;
    }
    switch (field) {
      case kHost:
        host = std::string(bytes);
        break;
      case kFileByFilename:
      case kFileContainingSymbol:
      case kAllExtensionNumbersOfType:
      case kListServices:
        kind = field;
        query = std::string(bytes);
        break;
      case kFileContainingExtension: {
        kind = field;
        Reader inner(bytes);
        while (!inner.done()) {
          int f;
          std::string_view b;
          uint64_t n = 0;
          if (!inner.Next(f, b, n)) break;
          if (f == 1) extension_type = std::string(b);
          if (f == 2) extension_number = static_cast<int32_t>(n);
        }
        break;
      }
      default:
        break;
    }
  }

  std::string response;
  PutBytes(response, kValidHost, host);
  if (kind != -1) PutBytes(response, kOriginalRequest, request);  // only a well-formed one
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  switch (kind) {
    case kListServices: {
      std::string list;
      for (const std::string& name : services_) {
        std::string service;
        PutBytes(service, 1, name);
        PutBytes(list, 1, service);
      }
      PutBytes(response, kListServicesResponse, list);
      return response;
    }
    case kFileByFilename: {
      const FileDescriptor* file = pool->FindFileByName(query);
      if (file == nullptr) break;
      PutBytes(response, kFileDescriptorResponse, FileResponse(file));
      return response;
    }
    case kFileContainingSymbol: {
      const FileDescriptor* file = pool->FindFileContainingSymbol(query);
      if (file == nullptr) break;
      PutBytes(response, kFileDescriptorResponse, FileResponse(file));
      return response;
    }
    case kFileContainingExtension: {
      const Descriptor* type = pool->FindMessageTypeByName(extension_type);
      const FieldDescriptor* extension =
          type == nullptr ? nullptr
                          : pool->FindExtensionByNumber(type, static_cast<int>(extension_number));
      if (extension == nullptr) break;
      PutBytes(response, kFileDescriptorResponse, FileResponse(extension->file()));
      return response;
    }
    case kAllExtensionNumbersOfType: {
      const Descriptor* type = pool->FindMessageTypeByName(query);
      if (type == nullptr) break;
      std::vector<const FieldDescriptor*> extensions;
      pool->FindAllExtensions(type, &extensions);
      std::string numbers;
      PutBytes(numbers, 1, query);
      for (const FieldDescriptor* extension : extensions) PutInt(numbers, 2, extension->number());
      PutBytes(response, kAllExtensionNumbersResponse, numbers);
      return response;
    }
    case -1:
      PutBytes(response, kErrorResponse, Error(kInvalid, "malformed ServerReflectionRequest"));
      return response;
    default:
      PutBytes(response, kErrorResponse, Error(kUnimplemented, "unsupported request"));
      return response;
  }
  PutBytes(response, kErrorResponse, Error(kNotFound, "not found: " + query + extension_type));
  return response;
}

}  // namespace appkit
