// NewKafkaClient: a client from a configuration, or librdkafka's refusal named by client
// kind (the configuration is freed either way; ASan checks it). CommitWithin and
// CloseConsumer give up when Kafka cannot be reached (a port nothing listens on), and
// DestroyWithin does not wait out a destroy that librdkafka holds up.

#include "common/kafka/kafka_handles.h"

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cdnwarm::common {
namespace {

using ::testing::HasSubstr;

KafkaConfPtr Conf(const std::vector<std::pair<std::string, std::string>>& props) {
  KafkaConfPtr conf(rd_kafka_conf_new());
  char err[256];
  for (const auto& [k, v] : props) {
    EXPECT_EQ(rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), err, sizeof(err)),
              RD_KAFKA_CONF_OK)
        << k << ": " << err;
  }
  return conf;
}

TEST(NewKafkaClientTest, MakesAClientOfTheKindAsked) {
  absl::StatusOr<KafkaPtr> p =
      NewKafkaClient(RD_KAFKA_PRODUCER, Conf({{"bootstrap.servers", "127.0.0.1:1"}}));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(rd_kafka_type(p->get()), RD_KAFKA_PRODUCER);
  absl::StatusOr<KafkaPtr> c = NewKafkaClient(
      RD_KAFKA_CONSUMER, Conf({{"bootstrap.servers", "127.0.0.1:1"}, {"group.id", "g"}}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(rd_kafka_type(c->get()), RD_KAFKA_CONSUMER);
}

TEST(NewKafkaClientTest, ARefusedConfigurationIsAnErrorNamingTheClientAndTheReason) {
  const auto bad_ca = [] {
    return Conf({{"bootstrap.servers", "127.0.0.1:1"},
                 {"security.protocol", "ssl"},
                 {"ssl.ca.location", "/nonexistent/ca.pem"}});
  };
  absl::StatusOr<KafkaPtr> p = NewKafkaClient(RD_KAFKA_PRODUCER, bad_ca());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr("Kafka producer: "));
  EXPECT_THAT(p.status().message(), HasSubstr("ssl.ca.location"));
  absl::StatusOr<KafkaPtr> c = NewKafkaClient(RD_KAFKA_CONSUMER, bad_ca());
  EXPECT_THAT(c.status().message(), HasSubstr("Kafka consumer: "));
}

KafkaPtr UnreachableConsumer(const std::string& session_timeout_ms = "1000") {
  absl::StatusOr<KafkaPtr> c =
      NewKafkaClient(RD_KAFKA_CONSUMER, Conf({{"bootstrap.servers", "127.0.0.1:1"},
                                              {"group.id", "g"},
                                              {"session.timeout.ms", session_timeout_ms},
                                              {"log_level", "0"}}));
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : nullptr;
}

// librdkafka's own synchronous commit waits for a coordinator for a whole session timeout.
TEST(CommitWithinTest, GivesUpWhenNoCoordinatorAnswers) {
  KafkaPtr rk = UnreachableConsumer();
  ASSERT_NE(rk, nullptr);
  KafkaTopicPartitionListPtr offsets(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(offsets.get(), "t", 0)->offset = 5;
  EXPECT_EQ(CommitWithin(rk.get(), offsets.get(), absl::Milliseconds(300)),
            RD_KAFKA_RESP_ERR__TIMED_OUT);
  // The answer that comes later (none here) reaches no callback: destroying is safe.
}

TEST(CloseConsumerTest, DestroysTheHandleEitherWay) {
  KafkaPtr rk = UnreachableConsumer();
  ASSERT_NE(rk, nullptr);
  KafkaTopicPartitionListPtr topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), "t", RD_KAFKA_PARTITION_UA);
  ASSERT_EQ(rd_kafka_subscribe(rk.get(), topics.get()), RD_KAFKA_RESP_ERR_NO_ERROR);
  CloseConsumer(rk, absl::Milliseconds(300));
  EXPECT_EQ(rk, nullptr);
}

// A commit still waiting for a coordinator holds librdkafka's destroy until the group's
// session timeout (45 s by default): the bridge's SIGTERM must not wait that out. The
// close gives up at its own timeout all the same; the handle is destroyed in the
// background, and the process can tell whether that finished.
TEST(CloseConsumerTest, GivesUpAtItsTimeoutWhileACommitWaitsForACoordinator) {
  KafkaPtr rk = UnreachableConsumer("10000");
  ASSERT_NE(rk, nullptr);
  KafkaTopicPartitionListPtr topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), "t", RD_KAFKA_PARTITION_UA);
  ASSERT_EQ(rd_kafka_subscribe(rk.get(), topics.get()), RD_KAFKA_RESP_ERR_NO_ERROR);
  KafkaTopicPartitionListPtr offsets(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(offsets.get(), "t", 0)->offset = 5;
  ASSERT_EQ(CommitWithin(rk.get(), offsets.get(), absl::Milliseconds(100)),
            RD_KAFKA_RESP_ERR__TIMED_OUT);
  const int before = AwaitKafkaDestroys(absl::Now());
  const absl::Time start = absl::Now();
  EXPECT_FALSE(CloseConsumer(rk, absl::Milliseconds(300)));
  EXPECT_EQ(rk, nullptr);
  // Far below the 10 s session timeout the destroy waited for before.
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // The destroy is still running: librdkafka times the commit out at the session timeout.
  EXPECT_EQ(AwaitKafkaDestroys(absl::Now()), before + 1);
  EXPECT_EQ(AwaitKafkaDestroys(absl::Now() + absl::Seconds(60)), 0);
}

TEST(DestroyWithinTest, WaitsForADestroyThatFinishesInTime) {
  absl::StatusOr<KafkaPtr> p =
      NewKafkaClient(RD_KAFKA_PRODUCER, Conf({{"bootstrap.servers", "127.0.0.1:1"}}));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(DestroyWithin(*std::move(p), absl::Seconds(30)));
  EXPECT_EQ(AwaitKafkaDestroys(absl::Now()), 0);
  EXPECT_TRUE(DestroyWithin(nullptr, absl::ZeroDuration()));
}

}  // namespace
}  // namespace cdnwarm::common
