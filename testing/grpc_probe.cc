#include "testing/grpc_probe.h"

#include <memory>

#include "google/protobuf/descriptor.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/sync_stream.h"
#include "testing/reflection_subset.pb.h"

namespace appkit::testing {
namespace {

using reflection::ServerReflectionRequest;
using reflection::ServerReflectionResponse;

std::shared_ptr<grpc::Channel> Connect(const std::string& socket_path) {
  return grpc::CreateChannel("unix:" + socket_path, grpc::InsecureChannelCredentials());
}

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

absl::Status FromGrpc(const grpc::Status& status, const std::string& what) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      what + ": " + status.error_message());
}

absl::StatusOr<ServerReflectionResponse> ReflectionCall(const std::string& socket_path,
                                                        const ServerReflectionRequest& request,
                                                        absl::Duration timeout) {
  auto channel = Connect(socket_path);
  grpc::ClientContext context;
  SetDeadline(context, timeout);
  static const grpc::internal::RpcMethod kMethod(
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      grpc::internal::RpcMethod::BIDI_STREAMING);
  std::unique_ptr<grpc::ClientReaderWriter<ServerReflectionRequest, ServerReflectionResponse>>
      stream(grpc::internal::ClientReaderWriterFactory<
             ServerReflectionRequest, ServerReflectionResponse>::Create(channel.get(), kMethod,
                                                                        &context));
  ServerReflectionResponse response;
  bool wrote = stream->Write(request);
  stream->WritesDone();
  bool read = wrote && stream->Read(&response);
  grpc::Status status = stream->Finish();
  if (!status.ok()) return FromGrpc(status, "reflection call to " + socket_path);
  if (!read) return absl::UnavailableError("reflection call to " + socket_path + ": no answer");
  if (response.has_error_response()) {
    return absl::NotFoundError("reflection error: " + response.error_response().error_message());
  }
  return response;
}

}  // namespace

absl::StatusOr<std::string> HealthCheck(const std::string& socket_path, const std::string& service,
                                        absl::Duration timeout) {
  auto stub = grpc::health::v1::Health::NewStub(Connect(socket_path));
  grpc::ClientContext context;
  SetDeadline(context, timeout);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return FromGrpc(status, "health check on " + socket_path);
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
}

absl::StatusOr<std::vector<std::string>> ReflectionListServices(const std::string& socket_path,
                                                                absl::Duration timeout) {
  ServerReflectionRequest request;
  request.set_list_services("");
  auto response = ReflectionCall(socket_path, request, timeout);
  if (!response.ok()) return response.status();
  std::vector<std::string> names;
  for (const auto& service : response->list_services_response().service()) {
    names.push_back(service.name());
  }
  return names;
}

absl::StatusOr<std::string> ReflectionFileContainingSymbol(const std::string& socket_path,
                                                           const std::string& symbol,
                                                           absl::Duration timeout) {
  ServerReflectionRequest request;
  request.set_file_containing_symbol(symbol);
  auto response = ReflectionCall(socket_path, request, timeout);
  if (!response.ok()) return response.status();
  const auto& files = response->file_descriptor_response().file_descriptor_proto();
  if (files.empty()) return absl::NotFoundError("no descriptor for " + symbol);
  google::protobuf::FileDescriptorProto file;
  if (!file.ParseFromString(files[0])) return absl::DataLossError("bad descriptor for " + symbol);
  return file.name();
}

}  // namespace appkit::testing
