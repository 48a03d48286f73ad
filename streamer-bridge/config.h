#pragma once

// The streamer-bridge's settings, from flags (shared ones in common/config.h).

#include "absl/status/statusor.h"
#include "common/core/config.h"
#include "common/kafka/kafka_flags.h"
#include "streamer-bridge/bridge_service.h"

namespace cdnwarm::bridge {

inline constexpr common::ServiceInfo kServiceInfo{
    .name = "streamer-bridge",
    .default_grpc_port = 50052,
    .default_admin_port = 9102,
    .description = "fans warm tasks out from Kafka to every region's warmers, at least once"};

struct BridgeConfig {
  common::CommonConfig common;
  common::KafkaConfig kafka;
  BridgeOptions bridge;
  // Seek across replicas: the control topic, the timeout; replica and requests topic
  // filled from `common`.
  SeekOptions seek;
};

absl::StatusOr<BridgeConfig> BridgeConfigFromFlags();

// "region token" lines; '#' comments and blank lines ignored.
absl::StatusOr<std::map<std::string, std::string>> LoadRegionTokens(const std::string& path);

}  // namespace cdnwarm::bridge
