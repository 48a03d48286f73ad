#include "warmer/warmer_stats.h"

#include "common/core/proto_time.h"
#include "common/core/sync.h"
#include "warmer/cache_status.h"

namespace cdnwarm::warmer {

WarmerStats::WarmerStats(std::string region, std::string subscriber_id, metrics::Registry& registry)
    : region_(std::move(region)),
      subscriber_id_(std::move(subscriber_id)),
      warms_(registry.AddCounter("cdnwarm_warmer_warms_total",
                                 "Warms finished, by ack outcome and the edge's cache status "
                                 "before the warm",
                                 {"outcome", "cache_status"})),
      deliveries_(
          registry.AddCounter("cdnwarm_warmer_deliveries_total", "Deliveries received").Get()),
      reconnects_(registry
                      .AddCounter("cdnwarm_warmer_stream_reconnects_total",
                                  "Subscribe streams opened again after one ended")
                      .Get()),
      in_flight_(registry.AddGauge("cdnwarm_warmer_deliveries_in_flight", "Deliveries being warmed")
                     .Get()) {}

void WarmerStats::SetSubscribed(bool subscribed) {
  common::MutexLock lock(&mu_);
  stats_.set_subscribed(subscribed);
}

void WarmerStats::Delivery() {
  deliveries_.Increment();
  common::MutexLock lock(&mu_);
  stats_.set_deliveries(stats_.deliveries() + 1);
}

void WarmerStats::Reconnect() {
  reconnects_.Increment();
  common::MutexLock lock(&mu_);
  stats_.set_reconnects(stats_.reconnects() + 1);
}

void WarmerStats::Finished(const cdnwarm::v1::WarmResult& result, const char* outcome) {
  warms_.Labels({outcome, CacheStatusName(result.cache_before())}).Increment();
  common::MutexLock lock(&mu_);
  ++(*stats_.mutable_outcomes())[outcome];
  ++(*stats_.mutable_cache_statuses())[CacheStatusName(result.cache_before())];
  stats_.set_bytes(stats_.bytes() + static_cast<uint64_t>(result.bytes()));
}

void WarmerStats::SetInFlight(uint32_t n) {
  in_flight_.Set(static_cast<double>(n));
  common::MutexLock lock(&mu_);
  stats_.set_in_flight(n);
}

cdnwarm::v1::WarmerStats WarmerStats::Snapshot() const {
  common::MutexLock lock(&mu_);
  cdnwarm::v1::WarmerStats out = stats_;
  out.set_region(region_);
  out.set_subscriber_id(subscriber_id_);
  *out.mutable_uptime() = common::ToProtoDuration(absl::Now() - started_);
  return out;
}

}  // namespace cdnwarm::warmer
