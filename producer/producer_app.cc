#include "producer/producer_app.h"

#include "absl/strings/str_cat.h"
#include "cdnwarm/v1/bridge.grpc.pb.h"
#include "cdnwarm/v1/producer.grpc.pb.h"
#include "common/core/log.h"
#include "common/kafka/kafka_admin.h"
#include "grpcpp/create_channel.h"

namespace cdnwarm::producer {

absl::StatusOr<std::unique_ptr<ProducerApp>> ProducerApp::Create(ProducerConfig config,
                                                                 metrics::Registry& registry) {
  std::unique_ptr<ProducerApp> app(new ProducerApp(std::move(config)));
  const ProducerConfig& c = app->config_;
  if (!c.auth_token_file.empty()) {
    absl::StatusOr<common::BearerAuth> auth = common::BearerAuth::FromFile(c.auth_token_file);
    if (!auth.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--auth_token_file: ", auth.status().message()));
    }
    app->auth_ = *std::move(auth);
  } else {
    log::Warn("authentication is disabled: no --auth_token_file; any caller may enqueue URLs");
  }
  if (c.fetch_guard.hosts.empty()) {
    log::Warn("no --allowed_hosts: URLs of any public host are accepted");
  }

  if (absl::Status s = common::EnsureServiceTopics(c.kafka); !s.ok()) return s;

  app->runner_ = std::make_unique<common::ServerRunner>(c.common.server, registry);
  common::Readiness& readiness = app->runner_->readiness();
  readiness.Set("kafka", true);

  app->tracker_ = std::make_unique<JobTracker>(JobTrackerOptions{
      .regions = c.kafka.regions, .window = c.job_window, .max_jobs = c.max_jobs});
  absl::StatusOr<std::unique_ptr<KafkaTaskPublisher>> publisher = KafkaTaskPublisher::Create(
      {.kafka = c.kafka.properties,
       .topic = c.kafka.requests_topic,
       .notes_topic = c.kafka.results_topic,
       .delivery_timeout = c.delivery_timeout,
       .max_queued_records = c.max_queued_records,
       .bulk_linger = c.bulk_linger,
       .on_health = [&readiness](bool ok) { readiness.Set("kafka", ok); }},
      registry);
  if (!publisher.ok()) return publisher.status();
  app->publisher_ = *std::move(publisher);

  absl::StatusOr<std::unique_ptr<JobFeed>> feed =
      JobFeed::Start({.kafka = c.kafka.properties,
                      .requests_topic = c.kafka.requests_topic,
                      .results_topic = c.kafka.results_topic,
                      .window = c.job_window},
                     *app->tracker_, registry);
  if (!feed.ok()) return feed.status();
  app->feed_ = *std::move(feed);

  app->intake_ = std::make_unique<Intake>(c.fetch_guard, *app->publisher_, *app->tracker_);
  ProducerServiceOptions service_options;
  service_options.max_wait = c.delivery_timeout;
  service_options.expansion_threads = c.expansion_threads;
  service_options.client_rate = c.client_rate;
  service_options.client_burst = c.client_burst;
  service_options.max_batch_urls = c.max_batch_urls;
  service_options.regions = c.kafka.regions;
  service_options.kafka = c.kafka.properties;
  service_options.results_topic = c.kafka.results_topic;
  if (c.client_rate == 0) log::Warn("no --client_rate: one client may enqueue URLs without limit");
  app->service_ = std::make_unique<ProducerService>(service_options, *app->intake_, *app->tracker_,
                                                    c.fetch_guard, app->auth_, registry);
  app->runner_->AddService(app->service_.get());
  if (!c.console_address.empty()) {
    app->runner_->OnStarted([app = app.get()] { return app->StartConsole(); });
  }
  app->runner_->OnDrain([app = app.get(), service = app->service_.get()] {
    if (app->console_) app->console_->Shutdown();  // the console's streams end with the drain
    service->StartDrain();
  });
  return app;
}

absl::Status ProducerApp::StartConsole() {
  std::vector<web::GatewayRoute> routes;
  routes.push_back({.service = std::string(cdnwarm::v1::Producer::service_full_name()),
                    .channel = runner_->InProcessChannel()});
  if (!config_.console_bridge_address.empty()) {
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    if (const common::TlsFiles& tls = config_.console_bridge_tls;
        !tls.ca_file.empty() || !tls.cert_file.empty()) {
      absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> secure =
          common::ChannelCredentials(tls);
      if (!secure.ok()) return secure.status();
      credentials = *std::move(secure);
    }
    // The gateway finds methods in the generated pool: touching a message of bridge.proto
    // links its descriptors in (the producer calls nothing else of it).
    (void)cdnwarm::v1::ListSubscriptionsRequest::descriptor();
    // What an operator needs of the bridge; a warmer's calls are not the console's.
    routes.push_back({.service = std::string(cdnwarm::v1::Bridge::service_full_name()),
                      .channel = grpc::CreateChannel(config_.console_bridge_address, credentials),
                      .methods = {"ListSubscriptions", "Seek"}});
  }
  web::ConsoleOptions options{
      .address = config_.console_address, .files_dir = config_.console_dir, .routes = routes};
  // The console is served over TLS when the gRPC port is: the same certificate, re-read as
  // it rotates. Client certificates are not asked for (browsers); the token is the check.
  if (const common::TlsFiles& tls = config_.common.server.tls; !tls.cert_file.empty()) {
    absl::StatusOr<std::shared_ptr<common::ServerCertificate>> certificate =
        common::ServerCertificate::Load(tls);
    if (!certificate.ok()) return certificate.status();
    options.certificate = *std::move(certificate);
  }
  absl::StatusOr<std::unique_ptr<web::ConsoleServer>> console =
      web::ConsoleServer::Start(std::move(options));
  if (!console.ok()) return console.status();
  console_ = *std::move(console);
  log::Info("console serving",
            {{"console_port", console_->port()},
             {"https", config_.common.server.tls.cert_file.empty() ? "no" : "yes"},
             {"bridge", config_.console_bridge_address}});
  return absl::OkStatus();
}

ProducerApp::~ProducerApp() {
  // The server stops first (no more calls), then the service's ticker (it publishes through
  // the intake), then the publisher: its poll threads and its shutdown answer pending
  // publishes through callbacks into the service, which must still be there, and report
  // Kafka's reachability to the runner's readiness, which goes after them. Only then the
  // service and the rest.
  if (runner_) {  // the drain hook reads console_: it has finished before console_ goes
    runner_->Shutdown();
    runner_->Wait();
  }
  console_.reset();  // its calls end before the server they call goes
  if (service_) service_->StopTicker();
  publisher_.reset();
  runner_.reset();
  service_.reset();
  feed_.reset();
}

absl::Status ProducerApp::FlushKafka() { return publisher_->Flush(absl::Seconds(10)); }

}  // namespace cdnwarm::producer
