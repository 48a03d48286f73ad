#pragma once

// Wires the warmer together: HTTP engine, task warmer, gRPC service, the bridge
// subscription and the server runner. main() and the tests both use it.

#include <memory>

#include "absl/status/statusor.h"
#include "common/core/metrics.h"
#include "common/core/server_runner.h"
#include "warmer/config.h"
#include "warmer/http_engine.h"
#include "warmer/subscriber.h"
#include "warmer/task_warmer.h"
#include "warmer/warmer_service.h"
#include "warmer/warmer_stats.h"

namespace cdnwarm::warmer {

class WarmerApp {
 public:
  static absl::StatusOr<std::unique_ptr<WarmerApp>> Create(WarmerConfig config,
                                                           metrics::Registry& registry);
  ~WarmerApp();

  common::ServerRunner& runner() { return *runner_; }
  // With a bridge address, opens the subscription (a client: it does not wait for the
  // server to serve).
  void StartSubscribing();

 private:
  explicit WarmerApp(WarmerConfig config) : config_(std::move(config)) {}

  const WarmerConfig config_;
  std::unique_ptr<common::ServerRunner> runner_;
  std::unique_ptr<HttpEngine> engine_;
  std::unique_ptr<TaskWarmer> warmer_;
  std::unique_ptr<WarmerStats> stats_;
  std::unique_ptr<WarmerService> service_;
  std::unique_ptr<Subscriber> subscriber_;
};

}  // namespace cdnwarm::warmer
