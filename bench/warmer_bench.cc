// Warmer: GETs/s of the warmer's task path (TaskWarmer on the HttpEngine, libcurl multi on
// one thread) against one nginx edge, a small cached body over HTTP/1.1 keep-alive with a
// fixed number of exchanges in flight. bench/run.sh runs wrk with the same connection count
// against the same URL as the baseline. Then the cost of proof: tasks/s on URLs the edge has
// not seen (each a MISS), with the verify GET (the default) and without it.

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/scenarios.h"
#include "common/core/metrics.h"
#include "common/fetch/ssrf_guard.h"
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

  // Runs tasks for `duration` with `p.concurrency` in flight: the same URL each time, or
  // with `fresh` a new one under it each time (a MISS at the edge). Counts WARMED tasks; anything
  // else stops the run.
  struct Run {
    uint64_t warmed = 0;
    std::map<std::string, uint64_t> other;  // outcome and error -> count
    std::vector<double> latencies_ms;
    absl::Duration wall;
  };
  auto run = [&](warmer::TaskWarmer& w, const std::string& fresh, absl::Duration duration) {
    Run r;
    std::mutex mu;
    std::condition_variable cv;
    int active = p.concurrency;
    uint64_t next_url = 0;
    const auto end = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(duration);
    std::function<void()> issue = [&] {
      v1::WarmTask task;
      task.set_task_id("bench/0");
      task.set_job_id("bench");
      {
        std::lock_guard<std::mutex> lock(mu);
        task.set_url(BenchUrl(p, fresh.empty() ? "edge" : fresh, fresh.empty() ? 0 : next_url++));
      }
      const auto sent = std::chrono::steady_clock::now();
      w.Warm(task, 1, [&, sent](warmer::WarmOutcome o) {
        const auto now = std::chrono::steady_clock::now();
        bool again = false;
        {
          std::lock_guard<std::mutex> lock(mu);
          if (o.result.outcome() == v1::OUTCOME_WARMED) {
            ++r.warmed;
            r.latencies_ms.push_back(absl::ToDoubleMilliseconds(absl::FromChrono(now - sent)));
          } else {
            ++r.other[absl::StrCat(v1::Outcome_Name(o.result.outcome()), ": ", o.result.error())];
          }
          again = now < end && r.other.empty();
          if (!again && --active == 0) cv.notify_all();
        }
        if (again) issue();
      });
    };
    Stopwatch sw;
    for (int i = 0; i < p.concurrency; ++i) issue();
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return active == 0; });
    r.wall = sw.wall();
    return r;
  };
  auto failed = [](const Run& r) {
    return absl::InternalError(
        absl::StrCat("warmer: ", r.other.begin()->second, " tasks ended ", r.other.begin()->first));
  };

  Stopwatch sw;
  Run cached = run(warmer, "", p.duration);
  if (!cached.other.empty()) return failed(cached);
  const absl::Duration cpu = sw.cpu();
  // The cost of proof, on URLs the edge has not seen: every warm is a MISS, and with
  // --verify (the default) one more GET proves it.
  warmer::TaskWarmer unverified(**engine, guard,
                                {.region = "bench", .warmer_id = "bench", .verify = false});
  Run miss_verify = run(warmer, "fresh-verified", p.duration / 2);
  if (!miss_verify.other.empty()) return failed(miss_verify);
  Run miss_trust = run(unverified, "fresh-unverified", p.duration / 2);
  if (!miss_trust.other.empty()) return failed(miss_trust);
  auto rate = [](const Run& r) {
    return static_cast<double>(r.warmed) / absl::ToDoubleSeconds(r.wall);
  };
  const uint64_t warmed = cached.warmed;
  const absl::Duration wall = cached.wall;
  std::vector<double> latencies_ms = std::move(cached.latencies_ms);
  Report(p.scheme == "https" ? "warmer-get-h2" : "warmer-get")
      .Throughput(warmed, wall, cpu, "gets/s")
      .Add("in_flight", p.concurrency)
      .Latencies("get", latencies_ms)
      .Add("miss_tasks_per_s_verified", rate(miss_verify))
      .Add("miss_tasks_per_s_unverified", rate(miss_trust))
      .Add("verify_cost_ratio", rate(miss_trust) > 0 ? rate(miss_verify) / rate(miss_trust) : 0)
      .Print();
  return absl::OkStatus();
}

}  // namespace cdnwarm::bench
