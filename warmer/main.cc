// cdnwarm warmer: see warmer/README.md.

#include "common/core/log.h"
#include "common/core/metrics.h"
#include "common/core/server_runner.h"
#include "warmer/config.h"
#include "warmer/warmer_app.h"

int main(int argc, char** argv) {
  using namespace cdnwarm;  // NOLINT: main wires the namespaces together
  common::BlockTerminationSignals();
  common::ParseFlags(argc, argv, warmer::kServiceInfo);
  absl::StatusOr<warmer::WarmerConfig> config = warmer::WarmerConfigFromFlags();
  if (!config.ok()) log::Fatal("bad configuration", {{"error", config.status().ToString()}});
  common::ApplyLogging(config->common);
  log::Info("starting", {{"version", common::VersionLine("warmer")},
                         {"region", config->subscriber.region},
                         {"bridge", config->bridge_address},
                         {"edge_pins", static_cast<int64_t>(config->engine.connect_to.size())}});
  absl::StatusOr<std::unique_ptr<warmer::WarmerApp>> app =
      warmer::WarmerApp::Create(*std::move(config), metrics::DefaultRegistry());
  if (!app.ok()) log::Fatal("cannot start", {{"error", app.status().ToString()}});
  (*app)->StartSubscribing();
  if (absl::Status s = (*app)->runner().RunUntilSignalled(); !s.ok()) {
    log::Fatal("server failed", {{"error", s.ToString()}});
  }
  log::Info("stopped");
  return 0;
}
