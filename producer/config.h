#pragma once

// The producer's settings, from flags (shared ones in common/config.h).

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/core/config.h"
#include "common/core/tls.h"
#include "common/fetch/ssrf_guard.h"
#include "common/kafka/kafka_flags.h"

namespace cdnwarm::producer {

inline constexpr common::ServiceInfo kServiceInfo{
    .name = "producer",
    .default_grpc_port = 50051,
    .default_admin_port = 9101,
    .description = "validated, durable intake of URLs to warm, and job progress"};

struct ProducerConfig {
  common::CommonConfig common;
  common::KafkaConfig kafka;
  common::FetchGuard fetch_guard;
  std::string auth_token_file;  // empty: no authentication (logged at start-up)
  absl::Duration job_window = absl::Hours(24);
  size_t max_jobs = 10000;
  absl::Duration delivery_timeout = absl::Seconds(30);
  int max_queued_records = 100000;  // per Kafka client (lane)
  absl::Duration bulk_linger = absl::Milliseconds(10);
  int expansion_threads = 2;
  double client_rate = 0;  // URLs/s per client; 0 unlimited
  double client_burst = 1;
  size_t max_batch_urls = 1'000'000;
  // The web console (common/web/console_server.h); off when the address is empty.
  std::string console_address;
  std::string console_dir;
  std::string console_bridge_address;   // the Regions view's bridge; empty: no Regions view
  common::TlsFiles console_bridge_tls;  // TLS to it when its ca_file or cert_file is set
};

absl::StatusOr<ProducerConfig> ProducerConfigFromFlags();

}  // namespace cdnwarm::producer
