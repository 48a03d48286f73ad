#pragma once

// Counters behind Warmer.GetStats, shared by the subscription loop and WarmNow.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/time/clock.h"
#include "cdnwarm/v1/warmer.pb.h"
#include "common/metrics.h"

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
  mutable std::mutex mu_;
  cdnwarm::v1::WarmerStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cdnwarm::warmer
