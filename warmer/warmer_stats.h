#pragma once

// The warmer's one record of its subscription and its warms: the counters behind
// Warmer.GetStats and the Prometheus metrics of the same events, updated together.
// Shared by the subscription loop and WarmNow.

#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/time/clock.h"
#include "cdnwarm/v1/warmer.pb.h"
#include "common/core/metrics.h"
#include "common/core/sync.h"

namespace cdnwarm::warmer {

class WarmerStats {
 public:
  WarmerStats(std::string region, std::string subscriber_id, metrics::Registry& registry);

  void SetSubscribed(bool subscribed);
  void Delivery();
  void Reconnect();
  void Finished(const cdnwarm::v1::WarmResult& result, const char* outcome);
  void SetInFlight(uint32_t n);

  cdnwarm::v1::WarmerStats Snapshot() const;

 private:
  const std::string region_;
  const std::string subscriber_id_;
  const absl::Time started_ = absl::Now();
  metrics::Family<metrics::Counter>& warms_;
  metrics::Counter& deliveries_;
  metrics::Counter& reconnects_;
  metrics::Gauge& in_flight_;
  mutable common::Mutex mu_;
  cdnwarm::v1::WarmerStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cdnwarm::warmer
