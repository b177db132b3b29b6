// Test-only gRPC clients for what stock tools (grpcurl, grpc_cli) would do
// against an appkit control socket: a health check and a reflection
// listing. Each call opens its own channel to unix:<socket_path> and uses
// a deadline, so a test never hangs on a dead server.
#ifndef APPKIT_TESTING_GRPC_PROBE_H_
#define APPKIT_TESTING_GRPC_PROBE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace appkit::testing {

// "SERVING", "NOT_SERVING", ... for `service` ("" is the whole server).
absl::StatusOr<std::string> HealthCheck(const std::string& socket_path,
                                        const std::string& service = "",
                                        absl::Duration timeout = absl::Seconds(5));

// The service names the server lists through gRPC server reflection.
absl::StatusOr<std::vector<std::string>> ReflectionListServices(
    const std::string& socket_path, absl::Duration timeout = absl::Seconds(5));

// The name of the file that defines `symbol`, found through reflection
// (proves the server can hand out descriptors, as grpcurl needs).
absl::StatusOr<std::string> ReflectionFileContainingSymbol(
    const std::string& socket_path, const std::string& symbol,
    absl::Duration timeout = absl::Seconds(5));

}  // namespace appkit::testing

#endif  // APPKIT_TESTING_GRPC_PROBE_H_
