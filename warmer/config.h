#pragma once

// The warmer's settings, from flags (shared ones in common/config.h).

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/core/config.h"
#include "common/fetch/ssrf_guard.h"
#include "warmer/http_engine.h"
#include "warmer/subscriber.h"
#include "warmer/task_warmer.h"

namespace cdnwarm::warmer {

inline constexpr common::ServiceInfo kServiceInfo{
    .name = "warmer",
    .default_grpc_port = 50053,
    .default_admin_port = 9103,
    .description = "warms URLs at this region's CDN edge and proves they are cached"};

struct WarmerConfig {
  common::CommonConfig common;
  common::FetchGuard fetch_guard;
  EngineOptions engine;
  SubscriberOptions subscriber;
  std::string bridge_address;  // empty: no subscription (WarmNow only)
  bool use_bridge_tls = false;
  common::TlsFiles bridge_tls;
  bool verify = true;
  // --edge_pins parsed; --allow_unpinned_hosts.
  std::vector<EdgePin> edge_pins;
  bool allow_unpinned_hosts = false;
};

absl::StatusOr<WarmerConfig> WarmerConfigFromFlags();

// "host:port:connect-host:connect-port", IPv6 hosts in brackets; empty hosts allowed as
// CURLOPT_CONNECT_TO allows.
absl::Status ValidateEdgePin(const std::string& pin);
absl::StatusOr<EdgePin> ParseEdgePin(const std::string& pin);

}  // namespace cdnwarm::warmer
