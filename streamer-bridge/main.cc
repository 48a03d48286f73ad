// cdnwarm streamer-bridge: see streamer-bridge/README.md.

#include "common/core/log.h"
#include "common/core/metrics.h"
#include "common/core/server_runner.h"
#include "common/kafka/kafka_handles.h"
#include "streamer-bridge/bridge_app.h"
#include "streamer-bridge/config.h"

int main(int argc, char** argv) {
  using namespace cdnwarm;  // NOLINT: main wires the namespaces together
  common::BlockTerminationSignals();
  common::ParseFlags(argc, argv, bridge::kServiceInfo);
  absl::StatusOr<bridge::BridgeConfig> config = bridge::BridgeConfigFromFlags();
  if (!config.ok()) log::Fatal("bad configuration", {{"error", config.status().ToString()}});
  common::ApplyLogging(config->common);
  log::Info("starting", {{"version", common::VersionLine("streamer-bridge")},
                         {"kafka", config->kafka.properties.Redacted()},
                         {"requests_topic", config->kafka.requests_topic},
                         {"replica", config->bridge.replica}});
  absl::StatusOr<std::unique_ptr<bridge::BridgeApp>> app =
      bridge::BridgeApp::Create(*std::move(config), metrics::DefaultRegistry());
  if (!app.ok()) log::Fatal("cannot start", {{"error", app.status().ToString()}});
  if (absl::Status s = (*app)->runner().RunUntilSignalled(); !s.ok()) {
    log::Fatal("server failed", {{"error", s.ToString()}});
  }
  app->reset();  // streams ended, work committed, groups left, results flushed
  // A consumer whose close Kafka did not answer may still be in librdkafka's destroy
  // (up to a session timeout): a second more, then the process leaves without it.
  common::ExitWhenKafkaIsDestroyed(absl::Seconds(1), 0);
  log::Info("stopped");
  return 0;
}
