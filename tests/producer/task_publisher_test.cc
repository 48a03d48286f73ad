// The publisher's answers when the broker cannot take records: a full local queue is
// RESOURCE_EXHAUSTED at once, an unacknowledged record is UNAVAILABLE at its deadline.
// No broker at all is needed for that (the bootstrap address answers nothing).

#include "producer/task_publisher.h"

#include <atomic>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/notification.h"

namespace cdnwarm::producer {
namespace {

std::unique_ptr<KafkaTaskPublisher> Unreachable(metrics::Registry& registry, int max_queued) {
  KafkaPublisherOptions o;
  o.kafka.Set("bootstrap.servers", "127.0.0.1:1");
  o.topic = "nowhere";
  o.max_queued_records = max_queued;
  absl::StatusOr<std::unique_ptr<KafkaTaskPublisher>> p = KafkaTaskPublisher::Create(o, registry);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

cdnwarm::v1::WarmTask Task() {
  cdnwarm::v1::WarmTask t;
  t.set_url("https://example.com/");
  t.set_task_id("j/0");
  return t;
}

// A client librdkafka refuses to create (a setting that contradicts idempotence) is an
// error naming it, not a crash while the half-built publisher is torn down.
TEST(TaskPublisherTest, AClientKafkaRefusesIsAnErrorNotACrash) {
  metrics::Registry registry;
  KafkaPublisherOptions o;
  o.kafka.Set("bootstrap.servers", "127.0.0.1:1");
  o.kafka.Set("max.in.flight.requests.per.connection", "10");
  o.topic = "nowhere";
  absl::StatusOr<std::unique_ptr<KafkaTaskPublisher>> p = KafkaTaskPublisher::Create(o, registry);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("max.in.flight"), absl::string_view::npos) << p.status();

  // The interactive lane made, the bulk lane refused (a linger as long as the timeout).
  KafkaPublisherOptions bulk;
  bulk.kafka.Set("bootstrap.servers", "127.0.0.1:1");
  bulk.topic = "nowhere";
  bulk.bulk_linger = bulk.delivery_timeout;
  p = KafkaTaskPublisher::Create(bulk, registry);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("linger.ms"), absl::string_view::npos) << p.status();
}

TEST(TaskPublisherTest, UnacknowledgedRecordIsUnavailableAtItsDeadline) {
  metrics::Registry registry;
  auto publisher = Unreachable(registry, 10);
  ASSERT_NE(publisher, nullptr);
  testing::Notification done;
  absl::Status status;
  const absl::Time start = absl::Now();
  publisher->Publish(Task(), Lane::kInteractive, start + absl::Milliseconds(300),
                     [&](absl::StatusOr<Published> r) {
                       status = r.status();
                       done.Notify();
                     });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_NE(registry.Render().find("cdnwarm_producer_records_total{result=\"timed_out\"} 1"),
            std::string::npos);
}

// Unhealthy while a record waits on brokers that are all down; healthy again once none
// waits (here: it timed out), since an unready replica gets no traffic to deliver.
TEST(TaskPublisherTest, RecordsWaitingOnNoBrokerAreReportedUnhealthyUntilNoneWaits) {
  metrics::Registry registry;
  KafkaPublisherOptions o;
  o.kafka.Set("bootstrap.servers", "127.0.0.1:1");
  o.topic = "nowhere";
  o.delivery_timeout = absl::Seconds(10);  // the record's answer: a timeout, 9 s after "down"
  testing::Notification down;
  testing::Notification up_after_down;
  testing::Notification answered;
  std::atomic<bool> waiting_at_down{false};
  o.on_health = [&](bool ok) {
    if (!ok) {
      waiting_at_down = !answered.WaitForNotificationWithTimeout(absl::ZeroDuration());
      down.Notify();
    }
    if (ok && down.WaitForNotificationWithTimeout(absl::ZeroDuration())) up_after_down.Notify();
  };
  absl::StatusOr<std::unique_ptr<KafkaTaskPublisher>> p = KafkaTaskPublisher::Create(o, registry);
  ASSERT_TRUE(p.ok()) << p.status();
  (*p)->Publish(Task(), Lane::kInteractive, absl::Now() + absl::Seconds(60),
                [&](absl::StatusOr<Published>) { answered.Notify(); });
  ASSERT_TRUE(down.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_TRUE(waiting_at_down) << "reported when the record no longer waited";
  EXPECT_TRUE(answered.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_TRUE(up_after_down.WaitForNotificationWithTimeout(absl::Seconds(30)));
}

TEST(TaskPublisherTest, FullLocalQueueIsResourceExhaustedAtOnce) {
  metrics::Registry registry;
  auto publisher = Unreachable(registry, 1);
  ASSERT_NE(publisher, nullptr);
  const absl::Time far = absl::Now() + absl::Seconds(60);
  int answered = 0;
  publisher->Publish(Task(), Lane::kBulk, far, [&](absl::StatusOr<Published>) { ++answered; });
  absl::Status second;
  publisher->Publish(Task(), Lane::kBulk, far,
                     [&](absl::StatusOr<Published> r) { second = r.status(); });
  EXPECT_EQ(second.code(), absl::StatusCode::kResourceExhausted) << second;
  EXPECT_EQ(answered, 0) << "the first record is still waiting for the broker";
  publisher.reset();  // shutting down answers what is left
  EXPECT_EQ(answered, 1);
}

}  // namespace
}  // namespace cdnwarm::producer
