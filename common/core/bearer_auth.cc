#include "common/core/bearer_auth.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace cdnwarm::common {

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

absl::StatusOr<BearerAuth> BearerAuth::FromToken(absl::string_view token) {
  BearerAuth auth;
  auth.token_ = std::string(absl::StripAsciiWhitespace(token));
  if (auth.token_.size() < 16) {
    return absl::InvalidArgumentError("token holds fewer than 16 bytes; use a long random token");
  }
  return auth;
}

absl::StatusOr<BearerAuth> BearerAuth::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("token file ", path, " cannot be read"));
  std::stringstream buf;
  buf << in.rdbuf();
  absl::StatusOr<BearerAuth> auth = FromToken(buf.str());
  if (!auth.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("token file ", path, " holds fewer than 16 bytes; use a long random token"));
  }
  return auth;
}

std::optional<absl::string_view> BearerAuth::AuthorizationOf(
    const grpc::ServerContextBase& context) {
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return std::nullopt;
  return absl::string_view(it->second.data(), it->second.size());
}

absl::Status BearerAuth::CheckHeader(std::optional<absl::string_view> authorization) const {
  if (!enabled()) return absl::OkStatus();
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError("missing \"authorization: Bearer <token>\" metadata");
  }
  constexpr absl::string_view kPrefix = "Bearer ";
  if (!absl::StartsWithIgnoreCase(*authorization, kPrefix)) {
    return absl::UnauthenticatedError("authorization metadata is not a Bearer token");
  }
  if (!ConstantTimeEquals(authorization->substr(kPrefix.size()), token_)) {
    return absl::UnauthenticatedError("bearer token is not valid");
  }
  return absl::OkStatus();
}

}  // namespace cdnwarm::common
