#include "producer/producer_app.h"

#include "absl/strings/str_cat.h"
#include "common/core/log.h"
#include "common/kafka/kafka_admin.h"

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
  app->runner_->OnDrain([service = app->service_.get()] { service->StartDrain(); });
  return app;
}

ProducerApp::~ProducerApp() {
  // The server goes first (no more calls), then the service's ticker (it publishes through
  // the intake), then the publisher: its poll thread and its shutdown answer pending
  // publishes through callbacks into the service, which must still be there. Only then
  // the service and the rest.
  runner_.reset();
  if (service_) service_->StopTicker();
  publisher_.reset();
  service_.reset();
  feed_.reset();
}

absl::Status ProducerApp::FlushKafka() { return publisher_->Flush(absl::Seconds(10)); }

}  // namespace cdnwarm::producer
