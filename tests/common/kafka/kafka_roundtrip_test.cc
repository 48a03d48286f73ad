// Produces and consumes records through the real broker the `kafka` CTest fixture starts,
// with the settings the services use: idempotent producer, acks=all, manual commits.

#include <cstdlib>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/kafka/kafka_admin.h"
#include "common/kafka/kafka_config.h"
#include "common/kafka/kafka_handles.h"
#include "gtest/gtest.h"

namespace cdnwarm::common {
namespace {

std::string Bootstrap() {
  const char* b = std::getenv("CDNWARM_KAFKA_BOOTSTRAP");
  return b != nullptr ? b : "127.0.0.1:29092";
}

KafkaPtr NewClient(rd_kafka_type_t type, const KafkaProperties& props) {
  absl::StatusOr<KafkaConfPtr> conf = props.ToConf();
  EXPECT_TRUE(conf.ok()) << conf.status();
  char err[512];
  KafkaPtr rk(rd_kafka_new(type, conf->get(), err, sizeof(err)));
  EXPECT_TRUE(rk) << err;
  if (rk) conf->release();
  return rk;
}

struct Delivered {
  int count = 0;
  std::map<std::string, int64_t> offsets;  // key -> offset
  rd_kafka_resp_err_t last_error = RD_KAFKA_RESP_ERR_NO_ERROR;
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* d = static_cast<Delivered*>(opaque);
  ++d->count;
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    d->last_error = m->err;
    return;
  }
  d->offsets[std::string(static_cast<const char*>(m->key), m->key_len)] = m->offset;
}

TEST(KafkaRoundTripTest, ProducesAndConsumesThroughRealBroker) {
  const std::string topic = absl::StrCat("cdnwarm.it.roundtrip.", absl::ToUnixMicros(absl::Now()));
  KafkaProperties base;
  base.Set("bootstrap.servers", Bootstrap());

  ASSERT_TRUE(EnsureTopics(base, {{.name = topic, .partitions = 3}}, absl::Seconds(30)).ok());
  // A second call finds the topic and succeeds.
  ASSERT_TRUE(EnsureTopics(base, {{.name = topic, .partitions = 3}}, absl::Seconds(30)).ok());

  constexpr int kRecords = 500;
  Delivered delivered;
  {
    KafkaProperties p = base;
    p.Set("enable.idempotence", "true");
    p.Set("acks", "all");
    p.Set("linger.ms", "5");
    absl::StatusOr<KafkaConfPtr> conf = p.ToConf();
    ASSERT_TRUE(conf.ok());
    rd_kafka_conf_set_dr_msg_cb(conf->get(), &OnDelivery);
    rd_kafka_conf_set_opaque(conf->get(), &delivered);
    char err[512];
    KafkaPtr producer(rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), err, sizeof(err)));
    ASSERT_TRUE(producer) << err;
    conf->release();
    for (int i = 0; i < kRecords; ++i) {
      const std::string key = absl::StrCat("https://example.com/", i);
      const std::string value = absl::StrCat("value-", i);
      KafkaErrorPtr error = ProduceCopy(producer.get(), topic, key, value);
      ASSERT_EQ(error, nullptr) << rd_kafka_error_string(error.get());
      rd_kafka_poll(producer.get(), 0);
    }
    ASSERT_EQ(rd_kafka_flush(producer.get(), 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  ASSERT_EQ(delivered.last_error, RD_KAFKA_RESP_ERR_NO_ERROR)
      << rd_kafka_err2str(delivered.last_error);
  ASSERT_EQ(delivered.count, kRecords);
  ASSERT_EQ(delivered.offsets.size(), static_cast<size_t>(kRecords));

  KafkaProperties c = base;
  c.Set("group.id", topic + ".group");
  c.Set("auto.offset.reset", "earliest");
  c.Set("enable.auto.commit", "false");
  c.Set("partition.assignment.strategy", "cooperative-sticky");
  KafkaPtr consumer = NewClient(RD_KAFKA_CONSUMER, c);
  ASSERT_TRUE(consumer);
  rd_kafka_poll_set_consumer(consumer.get());
  KafkaTopicPartitionListPtr subscription(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(subscription.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  ASSERT_EQ(rd_kafka_subscribe(consumer.get(), subscription.get()), RD_KAFKA_RESP_ERR_NO_ERROR);

  std::map<std::string, std::string> seen;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (seen.size() < static_cast<size_t>(kRecords) && absl::Now() < deadline) {
    KafkaMessagePtr m(rd_kafka_consumer_poll(consumer.get(), 500));
    if (!m) continue;
    ASSERT_EQ(m->err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_message_errstr(m.get());
    const std::string key(static_cast<const char*>(m->key), m->key_len);
    ASSERT_EQ(delivered.offsets.at(key), m->offset) << "offset differs from delivery report";
    seen[key] = std::string(static_cast<const char*>(m->payload), m->len);
  }
  ASSERT_EQ(seen.size(), static_cast<size_t>(kRecords));
  for (int i = 0; i < kRecords; ++i) {
    EXPECT_EQ(seen[absl::StrCat("https://example.com/", i)], absl::StrCat("value-", i));
  }

  // Manual commit of what was consumed, read back from the broker.
  ASSERT_EQ(rd_kafka_commit(consumer.get(), nullptr, /*async=*/0), RD_KAFKA_RESP_ERR_NO_ERROR);
  KafkaTopicPartitionListPtr committed(rd_kafka_topic_partition_list_new(3));
  for (int p = 0; p < 3; ++p) rd_kafka_topic_partition_list_add(committed.get(), topic.c_str(), p);
  ASSERT_EQ(rd_kafka_committed(consumer.get(), committed.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  int64_t total = 0;
  for (int i = 0; i < committed->cnt; ++i) total += committed->elems[i].offset;
  EXPECT_EQ(total, kRecords);
  rd_kafka_consumer_close(consumer.get());
}

TEST(KafkaRoundTripTest, EnsureTopicsReportsBrokerRefusal) {
  KafkaProperties base;
  base.Set("bootstrap.servers", Bootstrap());
  // A single broker cannot hold three replicas; the broker's reason must come back.
  const absl::Status s = EnsureTopics(
      base, {{.name = "cdnwarm.it.replicas", .partitions = 1, .replication_factor = 3}},
      absl::Seconds(30));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cdnwarm.it.replicas"), absl::string_view::npos) << s;
}

TEST(KafkaRoundTripTest, EnsureTopicsTimesOutWithoutBroker) {
  KafkaProperties p;
  p.Set("bootstrap.servers", "127.0.0.1:1");
  const absl::Status s = EnsureTopics(p, {{.name = "x"}}, absl::Seconds(2));
  EXPECT_FALSE(s.ok());
}

}  // namespace
}  // namespace cdnwarm::common
