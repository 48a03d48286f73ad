#include "streamer-bridge/bridge_app.h"

#include "common/core/log.h"
#include "common/core/naming.h"
#include "common/kafka/kafka_admin.h"

namespace cdnwarm::bridge {

absl::StatusOr<std::unique_ptr<BridgeApp>> BridgeApp::Create(BridgeConfig config,
                                                             metrics::Registry& registry) {
  // The seek settings follow the rest of the configuration (tests set only those).
  config.seek.requests_topic = config.kafka.requests_topic;
  config.seek.replica = config.bridge.replica;
  if (config.seek.control_topic.empty()) {
    config.seek.control_topic =
        common::WithInstance(common::kBridgeControlTopic, config.common.instance);
  }
  std::unique_ptr<BridgeApp> app(new BridgeApp(std::move(config)));
  const BridgeConfig& c = app->config_;
  // The control topic has one partition: every replica reads every command, in order.
  // Commands live for the length of a seek; an hour of them is plenty.
  if (absl::Status s =
          common::EnsureServiceTopics(c.kafka, {{.name = c.seek.control_topic,
                                                 .partitions = 1,
                                                 .config = {{"retention.ms", "3600000"}}}});
      !s.ok()) {
    return s;
  }
  if (c.bridge.region_tokens.empty()) {
    log::Warn("no --region_tokens_file: any caller may subscribe to any region");
  }
  app->runner_ = std::make_unique<common::ServerRunner>(c.common.server, registry);
  common::Readiness& readiness = app->runner_->readiness();
  readiness.Set("kafka", true);  // the topics were just reached
  absl::StatusOr<std::unique_ptr<ResultPublisher>> results = ResultPublisher::Create(
      c.kafka.properties, c.kafka.results_topic, c.kafka.dead_letter_topic, registry,
      [&readiness](bool ok) { readiness.Set("kafka", ok); },
      [runner = app->runner_.get()](const std::string&) {
        runner->Shutdown();  // drain, exit; a new process redelivers
      },
      c.kafka.requests_topic);
  if (!results.ok()) return results.status();
  app->results_ = *std::move(results);
  absl::StatusOr<std::unique_ptr<KnownRegions>> known = KnownRegions::Start(
      {.kafka = c.kafka.properties,
       .topic = c.kafka.requests_topic,
       .regions = c.kafka.regions,
       .group_of =
           [prefix = c.bridge.group_prefix, instance = c.common.instance](const std::string& r) {
             absl::StatusOr<std::string> g = common::RegionGroup(prefix, r, instance);
             return g.ok() ? *g : std::string();
           },
       .earliest = c.bridge.consumer.auto_offset_reset == "earliest"});
  if (!known.ok()) return known.status();
  app->known_ = *std::move(known);
  absl::StatusOr<std::unique_ptr<SeekCoordinator>> seek =
      SeekCoordinator::Create(c.kafka.properties, c.seek);
  if (!seek.ok()) return seek.status();
  app->seek_ = *std::move(seek);
  app->service_ = std::make_unique<BridgeService>(c.bridge, *app->results_, registry,
                                                  app->seek_.get(), app->known_.get());
  app->seek_->Start([service = app->service_.get()](const cdnwarm::v1::SeekRequest& request,
                                                    const std::string& group, absl::Time deadline) {
    return service->SeekHere(request, group, deadline);
  });
  app->runner_->AddService(app->service_.get());
  // Three quarters of the drain for acks of what the warmers hold; the rest for the
  // results, the commits and the server's own shutdown.
  const absl::Duration ack_budget = c.common.server.drain_timeout * 3 / 4;
  app->runner_->OnDrain([seek = app->seek_.get(), service = app->service_.get(),
                         known = app->known_.get(), ack_budget] {
    seek->Stop();   // seeks waiting are answered now; no new share of a seek starts
    known->Stop();  // its thread ends during the drain
    service->DrainAll(ack_budget);
  });
  return app;
}

BridgeApp::~BridgeApp() {
  if (runner_ == nullptr) return;  // Create failed before the server existed
  runner_->Shutdown();             // no more calls (a no-op after a drain)
  runner_->Wait();
  seek_.reset();     // joins its thread: before the service its local shares call
  service_.reset();  // streams ended, finished work committed, groups left
  // What the drain could not flush (Kafka down): the close budget more, then purged.
  if (results_) results_->Close(config_.bridge.consumer.close_timeout);
  results_.reset();  // its health callback still finds the runner
  known_.reset();
  runner_.reset();
}

}  // namespace cdnwarm::bridge
