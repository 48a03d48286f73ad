// WarmerStats: the one record of the warmer's events, for GetStats and for the metrics.

#include "warmer/warmer_stats.h"

#include <string>

#include "common/core/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cdnwarm::warmer {
namespace {

using ::testing::HasSubstr;

TEST(WarmerStatsTest, EachEventCountsOnceInTheSnapshotAndInTheMetrics) {
  metrics::Registry registry;
  WarmerStats stats("eu", "w1", registry);
  stats.SetSubscribed(true);
  stats.Delivery();
  stats.Delivery();
  stats.Reconnect();
  stats.SetInFlight(2);
  cdnwarm::v1::WarmResult r;
  r.set_cache_before(cdnwarm::v1::CACHE_STATUS_MISS);
  r.set_bytes(100);
  stats.Finished(r, "ACK_OUTCOME_WARMED");
  stats.SetInFlight(1);

  const cdnwarm::v1::WarmerStats s = stats.Snapshot();
  EXPECT_EQ(s.region(), "eu");
  EXPECT_EQ(s.subscriber_id(), "w1");
  EXPECT_TRUE(s.subscribed());
  EXPECT_EQ(s.deliveries(), 2u);
  EXPECT_EQ(s.reconnects(), 1u);
  EXPECT_EQ(s.in_flight(), 1u);
  EXPECT_EQ(s.bytes(), 100u);
  EXPECT_EQ(s.outcomes().at("ACK_OUTCOME_WARMED"), 1u);

  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("cdnwarm_warmer_deliveries_total 2"));
  EXPECT_THAT(text, HasSubstr("cdnwarm_warmer_stream_reconnects_total 1"));
  EXPECT_THAT(text, HasSubstr("cdnwarm_warmer_deliveries_in_flight 1"));
  EXPECT_THAT(
      text,
      HasSubstr(
          "cdnwarm_warmer_warms_total{cache_status=\"MISS\",outcome=\"ACK_OUTCOME_WARMED\"} 1"));
}

}  // namespace
}  // namespace cdnwarm::warmer
