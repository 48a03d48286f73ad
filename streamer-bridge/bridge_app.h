#pragma once

// Wires the streamer-bridge together: the result publisher, the seek coordinator, the
// Bridge service and the server runner. main() and the tests both use it.

#include <memory>

#include "absl/status/statusor.h"
#include "common/core/metrics.h"
#include "common/core/server_runner.h"
#include "streamer-bridge/bridge_service.h"
#include "streamer-bridge/config.h"
#include "streamer-bridge/known_regions.h"
#include "streamer-bridge/result_publisher.h"
#include "streamer-bridge/seek_coordinator.h"

namespace cdnwarm::bridge {

class BridgeApp {
 public:
  static absl::StatusOr<std::unique_ptr<BridgeApp>> Create(BridgeConfig config,
                                                           metrics::Registry& registry);
  ~BridgeApp();
  common::ServerRunner& runner() { return *runner_; }
  BridgeService& service() { return *service_; }

 private:
  explicit BridgeApp(BridgeConfig config) : config_(std::move(config)) {}
  const BridgeConfig config_;
  std::unique_ptr<ResultPublisher> results_;
  std::unique_ptr<SeekCoordinator> seek_;
  std::unique_ptr<KnownRegions> known_;  // outlives the service, which reads it
  std::unique_ptr<BridgeService> service_;
  std::unique_ptr<common::ServerRunner> runner_;
};

}  // namespace cdnwarm::bridge
