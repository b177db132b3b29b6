// ReflectionService: gRPC server reflection (grpc.reflection.v1alpha, what
// grpcurl and grpc_cli use) as a callback service, plus UNIMPLEMENTED for
// every other method no service registered.
//
// gRPC's own reflection plugin is a synchronous service, and one is enough
// to give a server a sync thread pool: a thread per open reflection
// stream, an unbounded queue of calls waiting for a thread, and, in gRPC
// 1.51, an abort of the whole process when the pool cannot create its
// first thread (ThreadManager::Initialize, RLIMIT_NPROC). With this one, a
// control server has no synchronous method at all (common/control/control_server.h).
//
// Served over raw bytes (a generic callback service, registered for the
// methods nobody else serves), with the messages' few fields encoded by
// hand, so that it needs no generated code of its own. Descriptors come
// from the process's generated pool: the services it names are listed,
// and files, symbols and extensions are looked up there. Thread-safe.
#ifndef APPKIT_COMMON_REFLECTION_SERVICE_H_
#define APPKIT_COMMON_REFLECTION_SERVICE_H_

#include <string>
#include <vector>

#include "grpcpp/generic/async_generic_service.h"

namespace appkit {

class ReflectionService final : public grpc::CallbackGenericService {
 public:
  static constexpr char kMethod[] =
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
  static constexpr char kServiceName[] = "grpc.reflection.v1alpha.ServerReflection";

  // `services`: the full names list_services answers (this one is added).
  explicit ReflectionService(std::vector<std::string> services);

  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override;

  // A serialized ServerReflectionRequest -> its serialized response (an
  // error_response for what cannot be answered).
  std::string Answer(const std::string& request) const;

 private:
  std::vector<std::string> services_;
};

}  // namespace appkit

#endif  // APPKIT_COMMON_REFLECTION_SERVICE_H_
