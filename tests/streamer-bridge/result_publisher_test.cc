// ResultPublisher: results and dead letters to Kafka, the caller never blocked, the
// `stored` callback only once Kafka holds the record.

#include "streamer-bridge/result_publisher.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/kafka/kafka_admin.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/kafka_test_client.h"
#include "tests/support/notification.h"

namespace cdnwarm::bridge {
namespace {

TEST(ResultPublisherTest, ResultsAreKeyedByJobAndDeadLettersCarryTheirSource) {
  const std::string suffix = absl::StrCat(absl::ToUnixMicros(absl::Now()));
  const std::string results = "cdnwarm.it.results." + suffix;
  const std::string dlq = "cdnwarm.it.dlq." + suffix;
  const common::KafkaProperties kafka = cdnwarm::testing::TestKafka();
  ASSERT_TRUE(common::EnsureTopics(
                  kafka, {{.name = results, .partitions = 1}, {.name = dlq, .partitions = 1}},
                  absl::Seconds(30))
                  .ok());
  metrics::Registry registry;
  absl::StatusOr<std::unique_ptr<ResultPublisher>> publisher =
      ResultPublisher::Create(kafka, results, dlq, registry, nullptr, nullptr, "warm.requests");
  ASSERT_TRUE(publisher.ok()) << publisher.status();

  cdnwarm::v1::WarmResult r;
  r.set_job_id("job-7");
  r.set_task_id("job-7/0");
  r.set_outcome(cdnwarm::v1::OUTCOME_WARMED);
  cdnwarm::testing::Notification result_stored, dead_stored;
  (*publisher)->Result(r, [&] { result_stored.Notify(); });
  cdnwarm::v1::WarmTask task;
  task.set_url("https://example.com/x");
  cdnwarm::v1::WarmResult last;
  last.set_error("HTTP 503");
  (*publisher)->DeadLetter(task, last, DeadLetterSource{.partition = 4, .offset = 91}, [&] {
    dead_stored.Notify();
  });
  ASSERT_TRUE(result_stored.WaitForNotificationWithTimeout(absl::Seconds(60)));
  ASSERT_TRUE(dead_stored.WaitForNotificationWithTimeout(absl::Seconds(60)));

  absl::StatusOr<std::vector<cdnwarm::testing::Record>> got = cdnwarm::testing::ReadTopic(results);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].key, "job-7") << "a job's results share a partition";
  cdnwarm::v1::WarmResult back;
  ASSERT_TRUE(back.ParseFromString((*got)[0].value));
  EXPECT_EQ(back.task_id(), "job-7/0");

  got = cdnwarm::testing::ReadTopic(dlq);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].key, "https://example.com/x");
  std::map<std::string, std::string> headers((*got)[0].headers.begin(), (*got)[0].headers.end());
  EXPECT_EQ(headers["cdnwarm-error"], "HTTP 503");
  EXPECT_EQ(headers["cdnwarm-source-topic"], "warm.requests");
  EXPECT_EQ(headers["cdnwarm-source-partition"], "4");
  EXPECT_EQ(headers["cdnwarm-source-offset"], "91");
}

// With the brokers unreachable and the client's queue full, Produce slept in a loop under
// the region's lock (and on the Ack path the service's), so one Kafka outage wedged every
// RPC, the janitor and the drain. A record with no room now waits in the publisher.
TEST(ResultPublisherTest, AFullClientQueueNeverBlocksTheCaller) {
  metrics::Registry registry;
  common::KafkaProperties kafka = cdnwarm::testing::TestKafka();
  kafka.Set("bootstrap.servers", "127.0.0.1:1");  // nothing listens: the queue only fills
  kafka.Set("queue.buffering.max.messages", "5");
  absl::StatusOr<std::unique_ptr<ResultPublisher>> publisher =
      ResultPublisher::Create(kafka, "results", "dlq", registry);
  ASSERT_TRUE(publisher.ok()) << publisher.status();
  absl::Notification returned;
  std::thread caller([&] {
    for (int i = 0; i < 50; ++i) {
      cdnwarm::v1::WarmResult r;
      r.set_task_id(absl::StrCat("j/", i));
      (*publisher)->Result(r, [] {});
    }
    returned.Notify();
  });
  if (!returned.WaitForNotificationWithTimeout(absl::Seconds(20))) {
    ADD_FAILURE() << "Result() blocked on a full client queue";
    std::fflush(nullptr);
    std::_Exit(1);
  }
  caller.join();
}

// A client librdkafka refuses to create is an error, not a crash in the teardown of the
// half-built publisher.
TEST(ResultPublisherTest, AClientKafkaRefusesIsAnErrorNotACrash) {
  metrics::Registry registry;
  common::KafkaProperties kafka = cdnwarm::testing::TestKafka();
  kafka.Set("max.in.flight.requests.per.connection", "10");  // contradicts idempotence
  absl::StatusOr<std::unique_ptr<ResultPublisher>> publisher =
      ResultPublisher::Create(kafka, "results", "dlq", registry);
  ASSERT_FALSE(publisher.ok());
  EXPECT_NE(publisher.status().message().find("max.in.flight"), absl::string_view::npos)
      << publisher.status();
}

}  // namespace
}  // namespace cdnwarm::bridge
