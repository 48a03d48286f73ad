#include "warmer/task_warmer.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/core/proto_time.h"
#include "common/core/sync.h"
#include "common/fetch/url_canon.h"
#include "warmer/cache_status.h"
#include "warmer/outcome_policy.h"

namespace cdnwarm::warmer {
namespace {

// State of one task's warm while its exchanges run.
struct Run {
  cdnwarm::v1::WarmTask task;
  uint32_t attempt = 0;
  std::string host;
  std::function<void(WarmOutcome)> done;
  common::Mutex mu;  // the variants' fetches finish on the engine's thread
  std::vector<cdnwarm::v1::VariantResult> variants ABSL_GUARDED_BY(mu);
  std::vector<Decision> decisions ABSL_GUARDED_BY(mu);
  int pending ABSL_GUARDED_BY(mu) = 0;
};

HttpRequest RequestFor(const Run& run, const cdnwarm::v1::RequestVariant& v) {
  HttpRequest req;
  req.url = run.task.url();
  req.host = run.host;
  for (const auto& h : v.headers()) req.headers.emplace_back(h.name(), h.value());
  return req;
}

// Headers the task varies in any of its variants: Vary naming one of them is covered.
std::vector<std::string> VariedHeaderNames(const cdnwarm::v1::WarmTask& task) {
  std::vector<std::string> names;
  for (const auto& v : task.variants()) {
    for (const auto& h : v.headers()) names.push_back(h.name());
  }
  return names;
}

WarmOutcome Combine(Run& run, const TaskWarmerOptions& options)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(run.mu) {
  WarmOutcome out;
  cdnwarm::v1::WarmResult& r = out.result;
  r.set_task_id(run.task.task_id());
  r.set_job_id(run.task.job_id());
  r.set_url(run.task.url());
  r.set_region(options.region);
  r.set_attempts(run.attempt);
  r.set_warmer_id(options.warmer_id);
  *r.mutable_finished_at() = common::ToProtoTimestamp(options.clock->Now());
  absl::Duration delay, latency;
  std::vector<std::string> errors;
  // The worst variant decides the task's outcome and gives its headline numbers: the
  // first variant with the worst verdict.
  size_t worst = 0;
  for (size_t i = 0; i < run.variants.size(); ++i) {
    const cdnwarm::v1::VariantResult& v = run.variants[i];
    const Decision& d = run.decisions[i];
    *r.add_variants() = v;
    r.set_bytes(r.bytes() + v.body_bytes());
    latency = std::max(latency, common::FromProtoDuration(v.total_latency()));
    if (d.verdict > run.decisions[worst].verdict) worst = i;
    if (d.verdict == Verdict::kRetry) delay = std::max(delay, d.retry_delay);
    if (d.verdict != Verdict::kWarmed) {
      errors.push_back(v.variant().empty() ? d.reason : absl::StrCat(v.variant(), ": ", d.reason));
    }
  }
  r.set_http_status(run.variants[worst].http_status());
  r.set_cache_before(run.variants[worst].cache_before());
  r.set_cache_after(run.variants[worst].cache_after());
  *r.mutable_latency() = common::ToProtoDuration(latency);
  r.set_error(absl::StrJoin(errors, "; "));
  switch (run.decisions[worst].verdict) {
    case Verdict::kRetry:
      out.ack = cdnwarm::v1::ACK_OUTCOME_RETRY;
      out.retry_delay = delay;
      break;
    case Verdict::kFailed:
      out.ack = cdnwarm::v1::ACK_OUTCOME_FAILED;
      r.set_outcome(cdnwarm::v1::OUTCOME_FAILED);
      break;
    case Verdict::kUnverified:
      out.ack = cdnwarm::v1::ACK_OUTCOME_UNVERIFIED;
      r.set_outcome(cdnwarm::v1::OUTCOME_UNVERIFIED);
      break;
    case Verdict::kWarmed:
      out.ack = cdnwarm::v1::ACK_OUTCOME_WARMED;
      r.set_outcome(cdnwarm::v1::OUTCOME_WARMED);
      break;
  }
  return out;
}

void FillVariant(const HttpResponse& resp, const CacheReport& cache,
                 const std::vector<std::string>& request_headers, cdnwarm::v1::VariantResult* v) {
  v->set_http_status(static_cast<int32_t>(resp.status));
  v->set_cache_before(cache.edge);
  for (const auto& layer : cache.layers) *v->add_layers() = layer;
  v->set_body_bytes(resp.body_bytes);
  v->set_body_capped(resp.body_capped);
  *v->mutable_first_byte_latency() = common::ToProtoDuration(resp.first_byte_time);
  *v->mutable_total_latency() = common::ToProtoDuration(resp.total_time);
  v->set_pop(ParsePop(resp.headers));
  for (const std::string& h : UnvariedHeaders(resp.headers, request_headers)) {
    v->add_unvaried_headers(h);
  }
}

}  // namespace

void TaskWarmer::Warm(const cdnwarm::v1::WarmTask& task, uint32_t attempt,
                      std::function<void(WarmOutcome)> done, std::optional<bool> verify_override) {
  const bool verify_all = verify_override.value_or(options_.verify);
  auto run = std::make_shared<Run>();
  run->task = task;
  run->attempt = attempt;
  run->done = std::move(done);
  if (run->task.variants().empty()) run->task.add_variants();  // one plain GET

  // The bridge's task came through the producer's checks; check again here, because the
  // warmer is the one that connects (and WarmNow comes straight from operators).
  absl::StatusOr<common::CanonicalUrl> url = common::CanonicalizeUrl(task.url());
  absl::Status refused = url.ok() ? guard_.CheckHost(url->host) : url.status();
  if (refused.ok() && !options_.edge_pins.empty() && !options_.allow_unpinned &&
      std::none_of(options_.edge_pins.begin(), options_.edge_pins.end(),
                   [&](const EdgePin& pin) { return pin.Covers(url->host, url->port); })) {
    refused = absl::FailedPreconditionError(absl::StrCat(
        "host ", url->host, ":", url->port, " has no edge pin in region ", options_.region,
        " (--edge_pins): not fetched through DNS, which may not reach this region's edge "
        "(--allow_unpinned_hosts allows it)"));
  }
  const int n = run->task.variants_size();
  std::optional<WarmOutcome> refused_outcome;
  {
    common::MutexLock lock(&run->mu);
    run->variants.resize(static_cast<size_t>(n));
    run->decisions.resize(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) run->variants[i].set_variant(run->task.variants(i).name());
    run->pending = n;
    if (!refused.ok()) {
      for (Decision& d : run->decisions) d.reason = std::string(refused.message());
      for (auto& v : run->variants) v.set_error(std::string(refused.message()));
      refused_outcome = Combine(*run, options_);
    }
  }
  if (refused_outcome) {
    run->done(*std::move(refused_outcome));
    return;
  }
  run->task.set_url(url->url);
  run->host = url->host;

  for (int i = 0; i < n; ++i) {
    engine_.Fetch(
        RequestFor(*run, run->task.variants(i)), [this, run, i, verify_all](HttpResponse resp) {
          const cdnwarm::v1::RequestVariant& variant = run->task.variants(i);
          const CacheReport cache = ParseCacheStatus(resp.headers);
          const Decision d = Decide(resp, cache, options_.clock->Now());
          {
            common::MutexLock lock(&run->mu);
            FillVariant(resp, cache, VariedHeaderNames(run->task), &run->variants[i]);
          }
          auto finish_one = [this, run, i](const Decision& decision) {
            std::optional<WarmOutcome> out;
            {
              common::MutexLock lock(&run->mu);
              run->decisions[i] = decision;
              if (decision.verdict != Verdict::kWarmed) run->variants[i].set_error(decision.reason);
              if (--run->pending == 0) out = Combine(*run, options_);
            }
            if (out) run->done(*std::move(out));
          };
          if (d.verdict != Verdict::kWarmed) {
            finish_one(d);
            return;
          }
          if (!verify_all || !NeedsVerify(d, cache)) {
            finish_one(Prove(cache, nullptr, nullptr));
            return;
          }
          engine_.Fetch(RequestFor(*run, variant), [run, i, cache, finish_one](HttpResponse again) {
            const CacheReport after = ParseCacheStatus(again.headers);
            {
              common::MutexLock lock(&run->mu);
              run->variants[i].set_cache_after(after.edge);
            }
            finish_one(Prove(cache, &again, &after));
          });
        });
  }
}

}  // namespace cdnwarm::warmer
