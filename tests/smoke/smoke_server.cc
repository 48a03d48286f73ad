// A process built only from the shared runner: the same start-up, flags, logging,
// admin port, health, reflection and SIGTERM drain as every cdnwarm service, with no
// service of its own. The smoke test and the README's main command run it.

#include "common/core/config.h"
#include "common/core/log.h"
#include "common/core/metrics.h"
#include "common/core/server_runner.h"

int main(int argc, char** argv) {
  cdnwarm::common::BlockTerminationSignals();
  const cdnwarm::common::ServiceInfo info{.name = "smoke-server",
                                          .default_grpc_port = 50050,
                                          .default_admin_port = 9100,
                                          .description = "the shared server runner alone"};
  cdnwarm::common::ParseFlags(argc, argv, info);
  absl::StatusOr<cdnwarm::common::CommonConfig> config =
      cdnwarm::common::CommonConfigFromFlags(info);
  if (!config.ok()) cdnwarm::log::Fatal("bad configuration", {{"error", config.status()}});
  cdnwarm::common::ApplyLogging(*config);

  auto& registry = cdnwarm::metrics::DefaultRegistry();
  registry.AddGauge("cdnwarm_smoke_up", "1 while the smoke server runs.").Get().Set(1);
  cdnwarm::common::ServerRunner runner(config->server, registry);
  if (absl::Status s = runner.RunUntilSignalled(); !s.ok()) {
    cdnwarm::log::Fatal("server failed", {{"error", s}});
  }
  return 0;
}
