#include "common/core/metrics.h"

#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cdnwarm::metrics {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, RendersCounterGaugeHistogramInTextFormat) {
  Registry r;
  auto& requests = r.AddCounter("cdnwarm_requests_total", "RPCs served.", {"rpc", "code"});
  requests.Labels({"Warm", "OK"}).Increment();
  requests.Labels({"Warm", "OK"}).Increment(2);
  requests.Labels({"WarmBatch", "INVALID_ARGUMENT"}).Increment();
  r.AddGauge("cdnwarm_queue_depth", "Records waiting.").Get().Set(12.5);
  auto& latency = r.AddHistogram("cdnwarm_delivery_seconds", "Delivery latency.", {0.1, 1});
  latency.Get().Observe(0.05);
  latency.Get().Observe(0.5);
  latency.Get().Observe(3);

  // prometheus-cpp's text serializer writes labels in name order; families are in name order.
  const std::string text = r.Render();
  EXPECT_THAT(text, HasSubstr("# HELP cdnwarm_delivery_seconds Delivery latency.\n"
                              "# TYPE cdnwarm_delivery_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("cdnwarm_delivery_seconds_bucket{le=\"0.1\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("cdnwarm_delivery_seconds_bucket{le=\"1\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("cdnwarm_delivery_seconds_bucket{le=\"+Inf\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("cdnwarm_delivery_seconds_count 3\n"));
  EXPECT_THAT(text, HasSubstr("cdnwarm_delivery_seconds_sum 3.55"));
  EXPECT_THAT(text, HasSubstr("# TYPE cdnwarm_queue_depth gauge\ncdnwarm_queue_depth 12.5\n"));
  EXPECT_THAT(text, HasSubstr("cdnwarm_requests_total{code=\"OK\",rpc=\"Warm\"} 3\n"));
  EXPECT_THAT(text,
              HasSubstr("cdnwarm_requests_total{code=\"INVALID_ARGUMENT\",rpc=\"WarmBatch\"} 1\n"));
  EXPECT_LT(text.find("cdnwarm_delivery_seconds"), text.find("cdnwarm_queue_depth"));
  EXPECT_LT(text.find("cdnwarm_queue_depth"), text.find("cdnwarm_requests_total"));
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  Registry r;
  r.AddCounter("x_total", "Help with\nnewline.", {"url"}).Labels({"http://h/\"q\""}).Increment();
  EXPECT_THAT(r.Render(), HasSubstr("x_total{url=\"http://h/\\\"q\\\"\"} 1\n"));
  EXPECT_THAT(r.Render(), HasSubstr("# HELP x_total Help with\\nnewline.\n"));
}

TEST(MetricsTest, ReRegistrationReturnsSameFamily) {
  Registry r;
  auto& a = r.AddCounter("c_total", "h", {"k"});
  auto& b = r.AddCounter("c_total", "h", {"k"});
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(&a.Labels({"v"}), &b.Labels({"v"}));
}

TEST(MetricsDeathTest, ConflictingRegistrationAborts) {
  Registry r;
  r.AddCounter("c_total", "h");
  EXPECT_EXIT(r.AddGauge("c_total", "h"), ::testing::ExitedWithCode(2), "registered twice");
  EXPECT_EXIT(r.AddCounter("bad-name", "h"), ::testing::ExitedWithCode(2), "invalid metric name");
  EXPECT_EXIT(r.AddCounter("ok_total", "h", {"le"}), ::testing::ExitedWithCode(2),
              "invalid label name");
}

TEST(MetricsTest, NegativeCounterIncrementIsIgnored) {
  Registry r;
  auto& c = r.AddCounter("c_total", "h").Get();
  c.Increment(5);
  c.Increment(-1);
  EXPECT_EQ(c.Value(), 5);
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  Registry r;
  auto& family = r.AddCounter("c_total", "h", {"t"});
  auto& hist = r.AddHistogram("h_seconds", "h", {1}).Get();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        family.Labels({"shared"}).Increment();
        hist.Observe(0.5);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(family.Labels({"shared"}).Value(), 40000);
  EXPECT_EQ(hist.Take().count, 40000u);
  EXPECT_EQ(hist.Take().sum, 20000);
}

}  // namespace
}  // namespace cdnwarm::metrics
