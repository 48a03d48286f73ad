#pragma once

// Who may call the bridge. A region's subscribers (Subscribe, SubscribeBatched, Ack,
// ModifyAckDeadline, Drain) send that region's bearer token; operators (ListSubscriptions,
// Seek) send the operator token. With no region tokens configured, every call passes.

#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "common/core/bearer_auth.h"
#include "grpcpp/server_context.h"

namespace cdnwarm::bridge {

class BridgeAuth {
 public:
  // `region_tokens`: region name -> token (checked when loaded; a token shorter than
  // BearerAuth accepts admits no one). `operator_auth` may be disabled.
  BridgeAuth(const std::map<std::string, std::string>& region_tokens,
             common::BearerAuth operator_auth);

  // OK; PERMISSION_DENIED when the region has no token here; UNAUTHENTICATED otherwise.
  // `authorization`: the call's "authorization" header, if it sent one.
  absl::Status Subscriber(std::optional<absl::string_view> authorization,
                          const std::string& region) const;
  absl::Status Subscriber(const grpc::ServerContextBase& ctx, const std::string& region) const {
    return Subscriber(common::BearerAuth::AuthorizationOf(ctx), region);
  }
  // OK; PERMISSION_DENIED when regions are guarded but no operator token is configured;
  // UNAUTHENTICATED when the token is missing or wrong.
  absl::Status Operator(std::optional<absl::string_view> authorization) const;
  absl::Status Operator(const grpc::ServerContextBase& ctx) const {
    return Operator(common::BearerAuth::AuthorizationOf(ctx));
  }

 private:
  bool guarded_;  // region tokens were configured
  std::map<std::string, common::BearerAuth> regions_;
  common::BearerAuth operator_;
};

}  // namespace cdnwarm::bridge
