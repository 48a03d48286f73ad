#include "producer/config.h"

#include <algorithm>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/core/naming.h"
#include "common/fetch/fetch_config.h"

ABSL_FLAG(std::string, auth_token_file, "",
          "File holding the bearer token callers must send (authorization: Bearer <token>). "
          "Empty disables authentication");
ABSL_FLAG(
    absl::Duration, job_window, absl::Hours(24),
    "How far back job progress is rebuilt from Kafka at start-up, and how long jobs are kept");
ABSL_FLAG(int, max_jobs, 10000, "Most jobs kept in memory; the oldest are evicted first");
ABSL_FLAG(absl::Duration, delivery_timeout, absl::Seconds(30),
          "Longest a record waits for the broker's acknowledgement before it fails");
ABSL_FLAG(int, max_queued_records, 100000,
          "Records each of the two Kafka clients (unary Warm's; batches' and expansions') may hold "
          "unacknowledged; beyond it calls get RESOURCE_EXHAUSTED");
ABSL_FLAG(absl::Duration, bulk_linger, absl::Milliseconds(10),
          "How long a WarmBatch, sitemap or playlist record waits for others to share its Kafka "
          "batch (linger.ms of their client; unary Warm's is --kafka_property=linger.ms, 2ms)");
ABSL_FLAG(int, expansion_threads, 2, "Threads fetching and expanding sitemaps and playlists");
ABSL_FLAG(double, client_rate, 0,
          "URLs per second one client (TLS common name, else IP address) may enqueue; 0 is "
          "unlimited. Warm beyond it gets RESOURCE_EXHAUSTED; batches and expansions are slowed");
ABSL_FLAG(double, client_burst, 0,
          "A client's burst above --client_rate, URLs (default: 10 s' worth)");
ABSL_FLAG(int, max_batch_urls, 1'000'000, "URLs one WarmBatch stream may carry");
ABSL_FLAG(std::string, console_address, "",
          "Web console's listen address, e.g. 0.0.0.0:8080 (the page and its /v1/ JSON API); "
          "empty: no console");
ABSL_FLAG(std::string, console_dir, "/usr/share/cdnwarm/console",
          "The console's built front end (index.html and assets/)");
ABSL_FLAG(std::string, console_bridge_address, "",
          "streamer-bridge gRPC address the console's Regions view calls (ListSubscriptions, "
          "Seek); empty: no Regions view");
ABSL_FLAG(std::string, console_bridge_ca_file, "",
          "PEM roots for TLS to --console_bridge_address (set: TLS; empty: plaintext unless "
          "--console_bridge_cert_file is set)");
ABSL_FLAG(std::string, console_bridge_cert_file, "",
          "PEM client certificate the console presents to a bridge that requires mutual TLS");
ABSL_FLAG(std::string, console_bridge_key_file, "",
          "PEM private key of --console_bridge_cert_file");

namespace cdnwarm::producer {

absl::StatusOr<ProducerConfig> ProducerConfigFromFlags() {
  ProducerConfig c;
  if (absl::Status s = common::KafkaServiceConfigFromFlags(kServiceInfo, &c.common, &c.kafka);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<common::FetchGuard> guard = common::FetchGuardFromFlags();
  if (!guard.ok()) return guard.status();
  c.fetch_guard = *std::move(guard);
  c.auth_token_file = absl::GetFlag(FLAGS_auth_token_file);
  c.job_window = absl::GetFlag(FLAGS_job_window);
  if (c.job_window < absl::Minutes(1) || c.job_window > absl::Hours(24 * 30)) {
    return absl::InvalidArgumentError("--job_window must be between 1m and 720h");
  }
  const int max_jobs = absl::GetFlag(FLAGS_max_jobs);
  if (max_jobs < 1 || max_jobs > 10'000'000) {
    return absl::InvalidArgumentError("--max_jobs must be between 1 and 10000000");
  }
  c.max_jobs = static_cast<size_t>(max_jobs);
  c.delivery_timeout = absl::GetFlag(FLAGS_delivery_timeout);
  if (c.delivery_timeout < absl::Seconds(1) || c.delivery_timeout > absl::Minutes(10)) {
    return absl::InvalidArgumentError("--delivery_timeout must be between 1s and 10m");
  }
  c.bulk_linger = absl::GetFlag(FLAGS_bulk_linger);
  if (c.bulk_linger < absl::ZeroDuration() || c.bulk_linger > absl::Seconds(1) ||
      c.bulk_linger >= c.delivery_timeout) {
    return absl::InvalidArgumentError(
        "--bulk_linger must be between 0 and 1s, and shorter than --delivery_timeout");
  }
  c.max_queued_records = absl::GetFlag(FLAGS_max_queued_records);
  if (c.max_queued_records < 1 || c.max_queued_records > 10'000'000) {
    return absl::InvalidArgumentError("--max_queued_records must be between 1 and 10000000");
  }
  c.expansion_threads = absl::GetFlag(FLAGS_expansion_threads);
  if (c.expansion_threads < 1 || c.expansion_threads > 64) {
    return absl::InvalidArgumentError("--expansion_threads must be between 1 and 64");
  }
  c.client_rate = absl::GetFlag(FLAGS_client_rate);
  c.client_burst = absl::GetFlag(FLAGS_client_burst);
  if (c.client_rate < 0 || c.client_rate > 1e7 || c.client_burst < 0 || c.client_burst > 1e8) {
    return absl::InvalidArgumentError(
        "--client_rate must be between 0 and 1e7, --client_burst between 0 and 1e8");
  }
  if (c.client_burst == 0) c.client_burst = std::max(1.0, 10 * c.client_rate);
  const int max_batch_urls = absl::GetFlag(FLAGS_max_batch_urls);
  if (max_batch_urls < 1 || max_batch_urls > 100'000'000) {
    return absl::InvalidArgumentError("--max_batch_urls must be between 1 and 100000000");
  }
  c.max_batch_urls = static_cast<size_t>(max_batch_urls);
  c.console_address = absl::GetFlag(FLAGS_console_address);
  c.console_dir = absl::GetFlag(FLAGS_console_dir);
  c.console_bridge_address = absl::GetFlag(FLAGS_console_bridge_address);
  c.console_bridge_tls =
      common::TlsFiles{.cert_file = absl::GetFlag(FLAGS_console_bridge_cert_file),
                       .key_file = absl::GetFlag(FLAGS_console_bridge_key_file),
                       .ca_file = absl::GetFlag(FLAGS_console_bridge_ca_file),
                       .cert_flag = "console_bridge_cert_file",
                       .key_flag = "console_bridge_key_file",
                       .ca_flag = "console_bridge_ca_file"};
  if (absl::Status s = common::CheckTlsFiles(c.console_bridge_tls); !s.ok()) return s;
  if (!c.console_bridge_address.empty() && c.console_address.empty()) {
    return absl::InvalidArgumentError(
        "--console_bridge_address needs --console_address (the console that calls it)");
  }
  return c;
}

}  // namespace cdnwarm::producer
