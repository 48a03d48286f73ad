#include "warmer/warmer_stats.h"

#include "common/proto_time.h"
#include "warmer/cache_status.h"

namespace cdnwarm::warmer {

WarmerStats::WarmerStats(std::string region, std::string subscriber_id, metrics::Registry& registry)
    : region_(std::move(region)),
      subscriber_id_(std::move(subscriber_id)),
      warms_(registry.AddCounter("cdnwarm_warmer_warms_total",
                                 "Warms finished, by ack outcome and the edge's cache status "
                                 "before the warm",
                                 {"outcome", "cache_status"})) {}

void WarmerStats::SetSubscribed(bool subscribed) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.set_subscribed(subscribed);
}

void WarmerStats::Delivery() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.set_deliveries(stats_.deliveries() + 1);
}

void WarmerStats::Reconnect() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.set_reconnects(stats_.reconnects() + 1);
}

void WarmerStats::Finished(const cdnwarm::v1::WarmResult& result, const char* outcome) {
  warms_.Labels({outcome, CacheStatusName(result.cache_before())}).Increment();
  std::lock_guard<std::mutex> lock(mu_);
  ++(*stats_.mutable_outcomes())[outcome];
  ++(*stats_.mutable_cache_statuses())[CacheStatusName(result.cache_before())];
  stats_.set_bytes(stats_.bytes() + static_cast<uint64_t>(result.bytes()));
}

void WarmerStats::SetInFlight(uint32_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.set_in_flight(n);
}

cdnwarm::v1::WarmerStats WarmerStats::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  cdnwarm::v1::WarmerStats out = stats_;
  out.set_region(region_);
  out.set_subscriber_id(subscriber_id_);
  *out.mutable_uptime() = common::ToProtoDuration(absl::Now() - started_);
  return out;
}

}  // namespace cdnwarm::warmer
