#pragma once

// Wires the producer together: Kafka publisher, job tracker and feed, the gRPC service
// and the server runner. main() and the integration tests both use it.

#include <memory>

#include "absl/status/statusor.h"
#include "common/core/bearer_auth.h"
#include "common/core/metrics.h"
#include "common/core/server_runner.h"
#include "common/web/console_server.h"
#include "producer/config.h"
#include "producer/intake.h"
#include "producer/job_feed.h"
#include "producer/job_tracker.h"
#include "producer/producer_service.h"
#include "producer/task_publisher.h"

namespace cdnwarm::producer {

class ProducerApp {
 public:
  // Creates the topics (if configured), connects to Kafka and reads job state from the
  // window. Does not serve yet.
  static absl::StatusOr<std::unique_ptr<ProducerApp>> Create(ProducerConfig config,
                                                             metrics::Registry& registry);
  ~ProducerApp();

  common::ServerRunner& runner() { return *runner_; }
  // The console's port once the runner started; 0 when there is no console.
  int console_port() const { return console_ ? console_->port() : 0; }
  // Flushes what the broker has not acknowledged yet; after the runner drained.
  absl::Status FlushKafka();

 private:
  explicit ProducerApp(ProducerConfig config) : config_(std::move(config)) {}
  // Serves the console, calling this process's server in-process (and the bridge).
  absl::Status StartConsole();

  const ProducerConfig config_;
  common::BearerAuth auth_;
  std::unique_ptr<common::ServerRunner> runner_;
  std::unique_ptr<JobTracker> tracker_;
  std::unique_ptr<KafkaTaskPublisher> publisher_;
  std::unique_ptr<JobFeed> feed_;
  std::unique_ptr<Intake> intake_;
  std::unique_ptr<ProducerService> service_;
  std::unique_ptr<web::ConsoleServer> console_;
};

}  // namespace cdnwarm::producer
