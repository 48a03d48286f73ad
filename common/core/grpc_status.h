#pragma once

// The one place absl::Status becomes grpc::Status at an RPC edge. The canonical codes
// are the same numbers in both, so the mapping is exact.

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace cdnwarm::common {

inline grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

}  // namespace cdnwarm::common
