// Warmer: GETs/s of the warmer's task path (TaskWarmer on the HttpEngine, libcurl multi on
// one thread) against one nginx edge, a small cached body over HTTP/1.1 keep-alive with a
// fixed number of exchanges in flight. bench/run.sh runs wrk with the same connection count
// against the same URL as the baseline.

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "bench/scenarios.h"
#include "common/metrics.h"
#include "common/ssrf_guard.h"
#include "warmer/http_engine.h"
#include "warmer/task_warmer.h"

namespace cdnwarm::bench {

absl::Status WarmerGet(const Params& p) {
  common::FetchGuard guard;
  absl::StatusOr<common::HostAllowList> hosts = common::HostAllowList::Parse({p.url_host});
  if (!hosts.ok()) return hosts.status();
  absl::StatusOr<common::AddressPolicy> addresses = common::AddressPolicy::Create({"127.0.0.0/8"});
  if (!addresses.ok()) return addresses.status();
  guard.hosts = *std::move(hosts);
  guard.addresses = *std::move(addresses);

  warmer::EngineOptions options;
  options.max_total = p.concurrency;
  options.max_per_host = p.concurrency;
  options.connect_to = {p.edge_pin};
  options.ca_file = p.ca_file;
  metrics::Registry registry;
  absl::StatusOr<std::unique_ptr<warmer::HttpEngine>> engine =
      warmer::HttpEngine::Create(options, guard, registry);
  if (!engine.ok()) return engine.status();
  warmer::TaskWarmer warmer(**engine, guard, {.region = "bench", .warmer_id = "bench"});

  v1::WarmTask task;
  task.set_task_id("bench/0");
  task.set_job_id("bench");
  task.set_url(BenchUrl(p, "edge", 0));

  std::mutex mu;
  std::condition_variable cv;
  int active = p.concurrency;
  uint64_t warmed = 0;
  std::map<std::string, uint64_t> other;  // outcome or error -> count
  std::vector<double> latencies_ms;
  const auto end = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(p.duration);
  std::function<void()> issue = [&] {
    const auto sent = std::chrono::steady_clock::now();
    warmer.Warm(task, 1, [&, sent](warmer::WarmOutcome o) {
      const auto now = std::chrono::steady_clock::now();
      bool again = false;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (o.result.outcome() == v1::OUTCOME_WARMED) {
          ++warmed;
          latencies_ms.push_back(absl::ToDoubleMilliseconds(absl::FromChrono(now - sent)));
        } else {
          ++other[absl::StrCat(v1::Outcome_Name(o.result.outcome()), ": ", o.result.error())];
        }
        again = now < end && other.empty();
        if (!again && --active == 0) cv.notify_all();
      }
      if (again) issue();
    });
  };
  Stopwatch sw;
  for (int i = 0; i < p.concurrency; ++i) issue();
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return active == 0; });
  const absl::Duration wall = sw.wall();
  if (!other.empty()) {
    return absl::InternalError(
        absl::StrCat("warmer: ", other.begin()->second, " tasks ended ", other.begin()->first));
  }
  Report(p.scheme == "https" ? "warmer-get-h2" : "warmer-get")
      .Throughput(warmed, wall, sw.cpu(), "gets/s")
      .Add("in_flight", p.concurrency)
      .Latencies("get", latencies_ms)
      .Print();
  return absl::OkStatus();
}

}  // namespace cdnwarm::bench
