#include "common/control/reflection_service.h"

#include <set>

#include "google/protobuf/descriptor.pb.h"
#include "gtest/gtest.h"
#include "proto/guardian.pb.h"
#include "testing/reflection_subset.pb.h"

namespace appkit {
namespace {

using testing::reflection::ServerReflectionRequest;
using testing::reflection::ServerReflectionResponse;

ServerReflectionResponse Ask(const ReflectionService& service,
                             const ServerReflectionRequest& request) {
  ServerReflectionResponse response;
  EXPECT_TRUE(response.ParseFromString(service.Answer(request.SerializeAsString())));
  EXPECT_EQ(response.original_request().SerializeAsString(), request.SerializeAsString());
  return response;
}

TEST(ReflectionServiceTest, ListsItsServicesAndItself) {
  ReflectionService service({"appkit.v1.Guardian", "grpc.health.v1.Health"});
  ServerReflectionRequest request;
  request.set_list_services("");
  ServerReflectionResponse response = Ask(service, request);
  std::vector<std::string> names;
  for (const auto& entry : response.list_services_response().service()) {
    names.push_back(entry.name());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"appkit.v1.Guardian", "grpc.health.v1.Health",
                                             "grpc.reflection.v1alpha.ServerReflection"}));
}

TEST(ReflectionServiceTest, GivesAFileWithItsDependencies) {
  (void)v1::GuardianStatus::descriptor();  // linked in: in the generated pool
  ReflectionService service({});
  ServerReflectionRequest request;
  request.set_file_containing_symbol("appkit.v1.Guardian");
  ServerReflectionResponse response = Ask(service, request);
  ASSERT_GE(response.file_descriptor_response().file_descriptor_proto_size(), 2);
  google::protobuf::FileDescriptorProto first;
  ASSERT_TRUE(first.ParseFromString(response.file_descriptor_response().file_descriptor_proto(0)));
  EXPECT_EQ(first.name(), "proto/guardian.proto");
  std::set<std::string> files;
  for (const std::string& bytes : response.file_descriptor_response().file_descriptor_proto()) {
    google::protobuf::FileDescriptorProto file;
    ASSERT_TRUE(file.ParseFromString(bytes));
    files.insert(file.name());
  }
  for (const std::string& dependency : first.dependency()) {
    EXPECT_TRUE(files.count(dependency)) << dependency;
  }

  ServerReflectionRequest by_name;
  by_name.set_file_by_filename("proto/guardian.proto");
  EXPECT_EQ(Ask(service, by_name).file_descriptor_response().file_descriptor_proto(0),
            response.file_descriptor_response().file_descriptor_proto(0));
}

TEST(ReflectionServiceTest, UnknownSymbolsAndGarbageGetErrorsNotCrashes) {
  ReflectionService service({});
  ServerReflectionRequest request;
  request.set_file_containing_symbol("no.such.Symbol");
  ServerReflectionResponse response = Ask(service, request);
  EXPECT_EQ(response.error_response().error_code(), 5);  // NOT_FOUND
  EXPECT_NE(response.error_response().error_message().find("no.such.Symbol"), std::string::npos);

  for (const std::string& garbage : {std::string("\xff\xff\xff"), std::string("\x0a\x7f", 2),
                                     std::string("\x1a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01")}) {
    ServerReflectionResponse answer;
    ASSERT_TRUE(answer.ParseFromString(service.Answer(garbage)));
    EXPECT_NE(answer.error_response().error_code(), 0);
  }
}

}  // namespace
}  // namespace appkit
