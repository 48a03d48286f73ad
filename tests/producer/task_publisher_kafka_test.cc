// The publisher's two lanes on the real broker (the `kafka` fixture): an interactive record
// is not held back by the bulk lane's linger, a bulk record waits out its own, both land on
// the one topic, and Flush sends what either lane still holds.

#include <atomic>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/kafka/kafka_admin.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "producer/task_publisher.h"
#include "tests/support/kafka_test_client.h"
#include "tests/support/notification.h"

namespace cdnwarm::producer {
namespace {

using ::testing::UnorderedElementsAre;

cdnwarm::v1::WarmTask Task(const std::string& url) {
  cdnwarm::v1::WarmTask t;
  t.set_url(url);
  t.set_task_id(url);
  return t;
}

TEST(TaskPublisherKafkaTest, TheBulkLaneLingersAloneAndFlushSendsBothLanes) {
  const std::string topic = absl::StrCat("it.publisher.lanes.", absl::ToUnixMicros(absl::Now()));
  ASSERT_TRUE(common::EnsureTopics(testing::TestKafka(), {{.name = topic, .partitions = 1}},
                                   absl::Seconds(30))
                  .ok());
  metrics::Registry registry;
  KafkaPublisherOptions o;
  o.kafka = testing::TestKafka();
  o.topic = topic;
  // Far longer than any acknowledgement here: a bulk record that is answered before Flush
  // did not linger on its own lane.
  o.bulk_linger = absl::Minutes(5);
  o.delivery_timeout = absl::Minutes(10);  // librdkafka wants it longer than any linger
  // Before the publisher: a failed assertion destroys it first, and it answers what is left.
  testing::Notification bulk_done;
  absl::StatusOr<Published> bulk;
  testing::Notification interactive_done;
  absl::StatusOr<Published> interactive;
  absl::StatusOr<std::unique_ptr<KafkaTaskPublisher>> publisher =
      KafkaTaskPublisher::Create(o, registry);
  ASSERT_TRUE(publisher.ok()) << publisher.status();
  const absl::Time deadline = absl::Now() + absl::Minutes(10);

  (*publisher)
      ->Publish(Task("https://example.com/bulk"), Lane::kBulk, deadline,
                [&](absl::StatusOr<Published> r) {
                  bulk = std::move(r);
                  bulk_done.Notify();
                });
  (*publisher)
      ->Publish(Task("https://example.com/interactive"), Lane::kInteractive, deadline,
                [&](absl::StatusOr<Published> r) {
                  interactive = std::move(r);
                  interactive_done.Notify();
                });
  ASSERT_TRUE(interactive_done.WaitForNotificationWithTimeout(absl::Seconds(60)));
  ASSERT_TRUE(interactive.ok()) << interactive.status();
  EXPECT_FALSE(bulk_done.WaitForNotificationWithTimeout(absl::ZeroDuration()))
      << "the bulk record did not wait out its linger";

  ASSERT_TRUE((*publisher)->Flush(absl::Seconds(60)).ok());
  // Flush returns once the queue is empty, which can be while the poll thread is still in
  // the delivery callback: a bounded wait, minutes short of the linger.
  ASSERT_TRUE(bulk_done.WaitForNotificationWithTimeout(absl::Seconds(30)))
      << "Flush did not send the bulk record";
  ASSERT_TRUE(bulk.ok()) << bulk.status();

  absl::StatusOr<std::vector<testing::Record>> records = testing::ReadTopic(topic);
  ASSERT_TRUE(records.ok()) << records.status();
  std::vector<std::string> keys;
  for (const testing::Record& r : *records) keys.push_back(r.key);
  EXPECT_THAT(keys,
              UnorderedElementsAre("https://example.com/bulk", "https://example.com/interactive"));
  EXPECT_NE(registry.Render().find("cdnwarm_producer_records_total{result=\"acked\"} 2"),
            std::string::npos)
      << registry.Render();
}

// Readiness hears of reachability when it changes, not at every acknowledged record.
TEST(TaskPublisherKafkaTest, HealthIsReportedOnceForManyDeliveries) {
  metrics::Registry registry;
  KafkaPublisherOptions o;
  o.kafka = testing::TestKafka();
  o.topic = absl::StrCat("it.publisher.health.", absl::ToUnixMicros(absl::Now()));
  ASSERT_TRUE(
      common::EnsureTopics(o.kafka, {{.name = o.topic, .partitions = 1}}, absl::Seconds(30)).ok());
  std::atomic<int> up{0};
  std::atomic<int> down{0};
  o.on_health = [&](bool ok) { ++(ok ? up : down); };
  std::atomic<int> acked{0};
  absl::StatusOr<std::unique_ptr<KafkaTaskPublisher>> publisher =
      KafkaTaskPublisher::Create(o, registry);
  ASSERT_TRUE(publisher.ok()) << publisher.status();
  for (int i = 0; i < 20; ++i) {
    (*publisher)
        ->Publish(Task(absl::StrCat("https://example.com/", i)),
                  i % 2 ? Lane::kBulk : Lane::kInteractive, absl::Now() + absl::Minutes(1),
                  [&](absl::StatusOr<Published> r) { acked += r.ok(); });
  }
  ASSERT_TRUE((*publisher)->Flush(absl::Seconds(60)).ok());
  publisher->reset();  // joins the poll threads: every callback has run
  EXPECT_EQ(acked.load(), 20);
  EXPECT_EQ(up.load(), 1);
  EXPECT_EQ(down.load(), 0);
}

TEST(TaskPublisherKafkaTest, EachLaneIsWrittenWithItsOwnSettings) {
  KafkaPublisherOptions o;
  o.bulk_linger = absl::Milliseconds(25);
  EXPECT_EQ(*PublisherProperties(o, Lane::kInteractive).Find("linger.ms"), "2");
  EXPECT_EQ(*PublisherProperties(o, Lane::kBulk).Find("linger.ms"), "25");
  o.kafka.Set("linger.ms", "7");  // --kafka_property=linger.ms: the interactive lane's
  EXPECT_EQ(*PublisherProperties(o, Lane::kInteractive).Find("linger.ms"), "7");
  EXPECT_EQ(*PublisherProperties(o, Lane::kBulk).Find("linger.ms"), "25");
  for (Lane lane : {Lane::kInteractive, Lane::kBulk}) {
    const common::KafkaProperties p = PublisherProperties(o, lane);
    EXPECT_EQ(*p.Find("acks"), "all");
    EXPECT_EQ(*p.Find("enable.idempotence"), "true");
    EXPECT_EQ(*p.Find("queue.buffering.max.messages"), "100000");
  }
  // Unary records gather while one request is out; a batch's lane keeps librdkafka's 5.
  EXPECT_EQ(
      *PublisherProperties(o, Lane::kInteractive).Find("max.in.flight.requests.per.connection"),
      "1");
  EXPECT_EQ(PublisherProperties(o, Lane::kBulk).Find("max.in.flight.requests.per.connection"),
            nullptr);
  o.kafka.Set("max.in.flight.requests.per.connection", "3");
  EXPECT_EQ(
      *PublisherProperties(o, Lane::kInteractive).Find("max.in.flight.requests.per.connection"),
      "3");
}

}  // namespace
}  // namespace cdnwarm::producer
