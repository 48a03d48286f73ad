#include "streamer-bridge/bridge_auth.h"

#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace cdnwarm::bridge {

BridgeAuth::BridgeAuth(const std::map<std::string, std::string>& region_tokens,
                       common::BearerAuth operator_auth)
    : guarded_(!region_tokens.empty()), operator_(std::move(operator_auth)) {
  for (const auto& [region, token] : region_tokens) {
    absl::StatusOr<common::BearerAuth> auth = common::BearerAuth::FromToken(token);
    if (auth.ok()) regions_.emplace(region, *std::move(auth));
  }
}

absl::Status BridgeAuth::Subscriber(std::optional<absl::string_view> authorization,
                                    const std::string& region) const {
  if (!guarded_) return absl::OkStatus();
  auto want = regions_.find(region);
  if (want == regions_.end()) {
    return absl::PermissionDeniedError(
        absl::StrCat("region ", region, " has no token configured on this bridge"));
  }
  if (!want->second.CheckHeader(authorization).ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("a valid bearer token for region ", region, " is required"));
  }
  return absl::OkStatus();
}

absl::Status BridgeAuth::Operator(std::optional<absl::string_view> authorization) const {
  if (!operator_.enabled()) {
    if (!guarded_) return absl::OkStatus();
    return absl::PermissionDeniedError(
        "subscribers need tokens on this bridge but no --operator_token_file is set, so "
        "ListSubscriptions and Seek are refused");
  }
  if (absl::Status s = operator_.CheckHeader(authorization); !s.ok()) {
    return absl::UnauthenticatedError(absl::StrCat("operator token: ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace cdnwarm::bridge
