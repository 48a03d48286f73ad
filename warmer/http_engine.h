#pragma once

// The HTTP engine: libcurl's multi interface on one thread, event driven (no thread per
// request). Bounded total and per-host concurrency, a per-host token bucket, adaptive
// per-host concurrency (halves on 5xx, 429, errors and slow first bytes; grows back by one
// per window of successes), whole-host backoff after repeated failures, connection reuse
// and HTTP/2 multiplexing, edge pins (CURLOPT_CONNECT_TO), and the shared SSRF guard.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/core/clock.h"
#include "common/core/metrics.h"
#include "common/core/sync.h"
#include "common/fetch/curl_handles.h"
#include "common/fetch/ssrf_guard.h"
#include "curl/curl.h"
#include "warmer/cache_status.h"

namespace cdnwarm::warmer {

struct HttpRequest {
  std::string url;   // canonical
  std::string host;  // the unit of per-host limits
  std::vector<std::pair<std::string, std::string>> headers;
};

struct HttpResponse {
  CURLcode curl_code = CURLE_OK;
  std::string error;             // transport error text; empty on success
  std::string refusal;           // set when the SSRF guard refused the connect address
  bool host_backed_off = false;  // not sent: the host is in backoff for `backoff_left`
  absl::Duration backoff_left;
  long status = 0;
  HeaderMap headers;
  int64_t body_bytes = 0;
  bool body_capped = false;
  int64_t content_length = -1;  // -1 when the response gave none
  absl::Duration connect_time;
  absl::Duration first_byte_time;
  absl::Duration total_time;
};

struct EngineOptions {
  int max_total = 64;
  int max_per_host = 8;
  double host_rate = 0;  // requests per second per host; 0 = unlimited
  int host_burst = 10;
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration total_timeout = absl::Seconds(30);
  // A first byte slower than this counts as origin distress for adaptive concurrency.
  absl::Duration slow_first_byte = absl::Seconds(3);
  int64_t max_body_bytes = 256 << 20;
  std::string user_agent = "cdnwarm-warmer";
  // PEM file of the CAs to trust for https instead of the system's; empty = the system's.
  std::string ca_file;
  // Edge pins, "host:port:connect-host:connect-port" (CURLOPT_CONNECT_TO).
  std::vector<std::string> connect_to;
  // Consecutive failures (transport errors, 5xx, 429) before the host is backed off.
  int failures_before_backoff = 5;
  absl::Duration max_host_backoff = absl::Seconds(60);
  // Where "now" comes from (tests: FakeClock); waits stay on the real clock.
  const common::Clock* clock = &common::Clock::Real();
};

class HttpEngine {
 public:
  using Callback = std::function<void(HttpResponse)>;

  // `guard` must outlive the engine.
  static absl::StatusOr<std::unique_ptr<HttpEngine>> Create(EngineOptions options,
                                                            const common::FetchGuard& guard,
                                                            metrics::Registry& registry);
  // Answers what is still queued or running with an error, then stops.
  ~HttpEngine();

  // Thread-safe. `done` runs on the engine thread; keep it short.
  void Fetch(HttpRequest request, Callback done);

  int in_flight() const;
  // The adaptive concurrency limit of a host right now (max_per_host if unknown).
  double host_limit(const std::string& host) const;

 private:
  struct Pending {
    HttpRequest request;
    Callback done;
    absl::Time queued_at;  // when Fetch took it: the wait for a slot is measured from here
  };
  struct Transfer;
  struct Host {
    std::deque<Pending> queue;
    int in_flight = 0;
    double limit = 1;
    double tokens = 0;
    absl::Time refilled = absl::InfinitePast();
    int consecutive_failures = 0;
    absl::Time backoff_until = absl::InfinitePast();
    absl::Time last_decrease = absl::InfinitePast();
  };
  struct Metrics;

  HttpEngine(EngineOptions options, const common::FetchGuard& guard, metrics::Registry& registry);
  void Run();
  // Starts what the limits allow; returns how long until a token bucket allows more.
  // Requests of hosts in backoff are answered (outside the lock) through `answers`.
  absl::Duration Admit(absl::Time now, std::vector<std::pair<Callback, HttpResponse>>* answers)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Start(Host& host, Pending pending) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Finished(CURL* easy, CURLcode code);
  void Adapt(Host& host, const HttpResponse& r, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const EngineOptions options_;
  const common::FetchGuard& guard_;
  std::unique_ptr<Metrics> metrics_;
  common::CurlMultiPtr multi_;
  common::CurlSlistPtr connect_to_;

  mutable common::Mutex mu_;
  std::map<std::string, Host> hosts_ ABSL_GUARDED_BY(mu_);
  std::map<CURL*, std::unique_ptr<Transfer>> transfers_ ABSL_GUARDED_BY(mu_);
  // Easy handles of finished exchanges, reset and reused by the next (at most max_total):
  // a new handle per exchange cost the handle's and its buffers' allocations each time.
  std::vector<common::CurlEasyPtr> idle_easy_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace cdnwarm::warmer
