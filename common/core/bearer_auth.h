#pragma once

// Optional bearer-token authentication of RPCs: "authorization: Bearer <token>" metadata
// compared in constant time with a token read from a file (a Kubernetes Secret mount).

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/server_context.h"

namespace cdnwarm::common {

class BearerAuth {
 public:
  // Disabled: every call passes.
  BearerAuth() = default;
  // Reads the token (surrounding whitespace trimmed; at least 16 bytes) from `path`.
  static absl::StatusOr<BearerAuth> FromFile(const std::string& path);
  // A token given as text (at least 16 bytes), e.g. one line of a tokens file.
  static absl::StatusOr<BearerAuth> FromToken(absl::string_view token);

  bool enabled() const { return !token_.empty(); }
  // OK, or UNAUTHENTICATED saying what was missing or wrong (never echoing tokens).
  absl::Status Check(const grpc::ServerContextBase& context) const {
    return CheckHeader(AuthorizationOf(context));
  }
  // The same for the value of an "authorization" header (absent: nullopt), from gRPC
  // metadata or an HTTP request.
  absl::Status CheckHeader(std::optional<absl::string_view> authorization) const;

  // A call's "authorization" metadata, if it sent one.
  static std::optional<absl::string_view> AuthorizationOf(const grpc::ServerContextBase& context);

 private:
  std::string token_;
};

// Equality whose time depends only on the lengths, not on where the inputs differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace cdnwarm::common
