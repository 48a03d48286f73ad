#include "streamer-bridge/bridge_app.h"

#include "common/kafka_admin.h"
#include "common/log.h"

namespace cdnwarm::bridge {

absl::StatusOr<std::unique_ptr<BridgeApp>> BridgeApp::Create(BridgeConfig config,
                                                             metrics::Registry& registry) {
  std::unique_ptr<BridgeApp> app(new BridgeApp(std::move(config)));
  const BridgeConfig& c = app->config_;
  if (absl::Status s = common::EnsureServiceTopics(c.common); !s.ok()) return s;
  if (c.bridge.region_tokens.empty()) {
    log::Warn("no --region_tokens_file: any caller may subscribe to any region");
  }
  app->runner_ = std::make_unique<common::ServerRunner>(c.common.server, registry);
  common::Readiness& readiness = app->runner_->readiness();
  readiness.Set("kafka", true);  // the topics were just reached
  absl::StatusOr<std::unique_ptr<ResultPublisher>> results = ResultPublisher::Create(
      c.common.kafka, c.common.results_topic, c.common.dead_letter_topic, registry,
      [&readiness](bool ok) { readiness.Set("kafka", ok); },
      [runner = app->runner_.get()](const std::string&) {
        runner->Shutdown();  // drain, exit; a new process redelivers
      },
      c.common.requests_topic);
  if (!results.ok()) return results.status();
  app->results_ = *std::move(results);
  app->service_ = std::make_unique<BridgeService>(c.bridge, *app->results_, registry);
  app->runner_->AddService(app->service_.get());
  // Three quarters of the drain for acks of what the warmers hold; the rest for the
  // results, the commits and the server's own shutdown.
  const absl::Duration ack_budget = c.common.server.drain_timeout * 3 / 4;
  app->runner_->OnDrain(
      [service = app->service_.get(), ack_budget] { service->DrainAll(ack_budget); });
  return app;
}

BridgeApp::~BridgeApp() {
  if (runner_ == nullptr) return;  // Create failed before the server existed
  runner_->Shutdown();             // no more calls (a no-op after a drain)
  runner_->Wait();
  service_.reset();  // streams ended, finished work committed, groups left
  results_.reset();  // flushes results; its health callback still finds the runner
  runner_.reset();
}

}  // namespace cdnwarm::bridge
