#include "warmer/warmer_app.h"

#include "common/core/keepalive.h"
#include "common/core/log.h"
#include "common/core/tls.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace cdnwarm::warmer {

absl::StatusOr<std::unique_ptr<WarmerApp>> WarmerApp::Create(WarmerConfig config,
                                                             metrics::Registry& registry) {
  std::unique_ptr<WarmerApp> app(new WarmerApp(std::move(config)));
  const WarmerConfig& c = app->config_;
  if (c.fetch_guard.hosts.empty()) log::Warn("no --allowed_hosts: any public host is fetched");
  app->runner_ = std::make_unique<common::ServerRunner>(c.common.server, registry);
  absl::StatusOr<std::unique_ptr<HttpEngine>> engine =
      HttpEngine::Create(c.engine, c.fetch_guard, registry);
  if (!engine.ok()) return engine.status();
  app->engine_ = *std::move(engine);
  app->warmer_ =
      std::make_unique<TaskWarmer>(*app->engine_, c.fetch_guard,
                                   TaskWarmerOptions{.region = c.subscriber.region,
                                                     .warmer_id = c.common.replica_id,
                                                     .verify = c.verify,
                                                     .edge_pins = c.edge_pins,
                                                     .allow_unpinned = c.allow_unpinned_hosts});
  app->stats_ =
      std::make_unique<WarmerStats>(c.subscriber.region, c.subscriber.subscriber_id, registry);
  app->service_ = std::make_unique<WarmerService>(*app->warmer_, c.fetch_guard, *app->stats_);
  app->runner_->AddService(app->service_.get());
  if (c.bridge_address.empty()) {
    log::Warn("no --bridge_address: not subscribing; only WarmNow is served");
  } else {
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    if (c.use_bridge_tls) {
      absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> tls =
          common::ChannelCredentials(c.bridge_tls);
      if (!tls.ok()) return tls.status();
      credentials = *std::move(tls);
    }
    app->subscriber_ = std::make_unique<Subscriber>(
        c.subscriber,
        grpc::CreateCustomChannel(c.bridge_address, credentials,
                                  common::ClientKeepaliveArguments(c.common.server.keepalive)),
        *app->warmer_, *app->stats_, app->runner_->readiness(), registry);
    app->runner_->OnDrain([subscriber = app->subscriber_.get(),
                           grace = c.common.server.drain_timeout] { subscriber->Drain(grace); });
  }
  return app;
}

void WarmerApp::StartSubscribing() {
  if (subscriber_) subscriber_->Start();
}

WarmerApp::~WarmerApp() {
  subscriber_.reset();  // drains (acks flushed) while the engine still runs
  runner_.reset();      // no RPC in flight after this
  engine_.reset();      // joins the thread that ran WarmNow's callbacks into the service
  service_.reset();
}

}  // namespace cdnwarm::warmer
