// cdnwarm producer: see producer/README.md.

#include "common/core/log.h"
#include "common/core/metrics.h"
#include "common/core/server_runner.h"
#include "producer/config.h"
#include "producer/producer_app.h"

int main(int argc, char** argv) {
  using namespace cdnwarm;  // NOLINT: main wires the namespaces together
  common::BlockTerminationSignals();
  common::ParseFlags(argc, argv, producer::kServiceInfo);
  absl::StatusOr<producer::ProducerConfig> config = producer::ProducerConfigFromFlags();
  if (!config.ok()) log::Fatal("bad configuration", {{"error", config.status().ToString()}});
  common::ApplyLogging(config->common);
  log::Info("starting", {{"version", common::VersionLine("producer")},
                         {"kafka", config->kafka.properties.Redacted()},
                         {"requests_topic", config->kafka.requests_topic}});

  absl::StatusOr<std::unique_ptr<producer::ProducerApp>> app =
      producer::ProducerApp::Create(*std::move(config), metrics::DefaultRegistry());
  if (!app.ok()) log::Fatal("cannot start", {{"error", app.status().ToString()}});
  if (absl::Status s = (*app)->runner().RunUntilSignalled(); !s.ok()) {
    log::Fatal("server failed", {{"error", s.ToString()}});
  }
  if (absl::Status s = (*app)->FlushKafka(); !s.ok()) {
    log::Error("records left unacknowledged at exit", {{"error", s.ToString()}});
  }
  log::Info("stopped");
  return 0;
}
