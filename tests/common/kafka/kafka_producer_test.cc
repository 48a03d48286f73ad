// common::KafkaProducer: the durable producer both publishers use, against the real broker
// the `kafka` CTest fixture starts, and against a cluster that is not there.

#include "common/kafka/kafka_producer.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/core/sync.h"
#include "common/kafka/kafka_admin.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/kafka_test_client.h"

namespace cdnwarm::common {
namespace {

using ::testing::HasSubstr;

// What the producer's callbacks heard, from its threads.
struct Heard {
  Mutex mu;
  CondVar changed;
  std::vector<rd_kafka_resp_err_t> deliveries ABSL_GUARDED_BY(mu);
  std::vector<int64_t> offsets ABSL_GUARDED_BY(mu);
  std::vector<rd_kafka_resp_err_t> errors ABSL_GUARDED_BY(mu);
  int polls ABSL_GUARDED_BY(mu) = 0;

  KafkaProducer::Callbacks Callbacks() {
    return {.delivered =
                [this](const rd_kafka_message_t& m) {
                  MutexLock lock(&mu);
                  deliveries.push_back(m.err);
                  offsets.push_back(m.offset);
                  changed.SignalAll();
                },
            .error =
                [this](rd_kafka_resp_err_t e, const std::string&) {
                  MutexLock lock(&mu);
                  errors.push_back(e);
                  changed.SignalAll();
                },
            .polled =
                [this](KafkaProducer&) {
                  MutexLock lock(&mu);
                  ++polls;
                  changed.SignalAll();
                }};
  }
  // Waits until `n` delivery reports arrived and a poll ended after them (a report is
  // served inside a poll, before `polled` runs).
  bool AwaitDeliveries(size_t n) {
    MutexLock lock(&mu);
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (deliveries.size() < n) {
      if (changed.WaitWithDeadline(&mu, deadline)) return false;
    }
    const int seen = polls;
    while (polls == seen) {
      if (changed.WaitWithDeadline(&mu, deadline)) return false;
    }
    return true;
  }
};

TEST(KafkaProducerTest, RecordsReachTheBrokerAndEachGetsItsReport) {
  const std::string topic = absl::StrCat("cdnwarm.it.producer.", absl::ToUnixMicros(absl::Now()));
  KafkaProperties props = cdnwarm::testing::TestKafka();
  ASSERT_TRUE(EnsureTopics(props, {{.name = topic, .partitions = 1}}, absl::Seconds(30)).ok());
  // Weaker settings in the properties do not survive: the producer imposes its own.
  props.Set("acks", "1");
  props.Set("enable.idempotence", "false");
  Heard heard;
  absl::StatusOr<std::unique_ptr<KafkaProducer>> p =
      KafkaProducer::Create(props, absl::Milliseconds(20), heard.Callbacks());
  ASSERT_TRUE(p.ok()) << p.status();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ((*p)->Produce(topic, absl::StrCat("k", i), "v", nullptr), nullptr);
  }
  ASSERT_TRUE(heard.AwaitDeliveries(3));
  EXPECT_TRUE((*p)->Flush(absl::Seconds(10)));
  EXPECT_EQ((*p)->QueueLength(), 0);
  MutexLock lock(&heard.mu);
  EXPECT_THAT(heard.deliveries, ::testing::Each(RD_KAFKA_RESP_ERR_NO_ERROR));
  EXPECT_THAT(heard.offsets, ::testing::ElementsAre(0, 1, 2));
  EXPECT_GT(heard.polls, 0) << "the poll thread runs `polled` after each poll";
}

TEST(KafkaProducerTest, WithNoClusterRecordsWaitAndPurgeReportsThem) {
  KafkaProperties props;
  props.Set("bootstrap.servers", "127.0.0.1:1");  // nothing listens there
  Heard heard;
  absl::StatusOr<std::unique_ptr<KafkaProducer>> p =
      KafkaProducer::Create(props, absl::Milliseconds(20), heard.Callbacks());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->Produce("cdnwarm.nowhere", "k", "v", nullptr), nullptr) << "queued";
  EXPECT_FALSE((*p)->Flush(absl::Milliseconds(200)));
  EXPECT_EQ((*p)->QueueLength(), 1);
  (*p)->Stop();
  (*p)->Purge();
  MutexLock lock(&heard.mu);
  ASSERT_EQ(heard.deliveries.size(), 1u) << "purged records are reported, not dropped";
  EXPECT_EQ(heard.deliveries[0], RD_KAFKA_RESP_ERR__PURGE_QUEUE);
}

TEST(KafkaProducerTest, ABadPropertyIsRefusedByName) {
  KafkaProperties props;
  props.Set("linger.ms", "banana");
  absl::StatusOr<std::unique_ptr<KafkaProducer>> p =
      KafkaProducer::Create(props, absl::Milliseconds(20), {});
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), HasSubstr("linger.ms"));
}

}  // namespace
}  // namespace cdnwarm::common
