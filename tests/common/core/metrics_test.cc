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

  EXPECT_EQ(r.Render(),
            "# HELP cdnwarm_delivery_seconds Delivery latency.\n"
            "# TYPE cdnwarm_delivery_seconds histogram\n"
            "cdnwarm_delivery_seconds_bucket{le=\"0.10000000000000001\"} 1\n"
            "cdnwarm_delivery_seconds_bucket{le=\"1\"} 2\n"
            "cdnwarm_delivery_seconds_bucket{le=\"+Inf\"} 3\n"
            "cdnwarm_delivery_seconds_sum 3.5499999999999998\n"
            "cdnwarm_delivery_seconds_count 3\n"
            "# HELP cdnwarm_queue_depth Records waiting.\n"
            "# TYPE cdnwarm_queue_depth gauge\n"
            "cdnwarm_queue_depth 12.5\n"
            "# HELP cdnwarm_requests_total RPCs served.\n"
            "# TYPE cdnwarm_requests_total counter\n"
            "cdnwarm_requests_total{rpc=\"Warm\",code=\"OK\"} 3\n"
            "cdnwarm_requests_total{rpc=\"WarmBatch\",code=\"INVALID_ARGUMENT\"} 1\n");
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(EscapeHelp("line1\nback\\slash \"quotes\""), "line1\\nback\\\\slash \"quotes\"");
  Registry r;
  r.AddCounter("x_total", "Help with\nnewline.", {"url"}).Labels({"http://h/\"q\""}).Increment();
  EXPECT_THAT(r.Render(), HasSubstr("x_total{url=\"http://h/\\\"q\\\"\"} 1\n"));
  EXPECT_THAT(r.Render(), HasSubstr("# HELP x_total Help with\\nnewline.\n"));
}

TEST(MetricsTest, FormatsSpecialValues) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(-3), "-3");
  EXPECT_EQ(FormatValue(1e20), "1e+20");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
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
