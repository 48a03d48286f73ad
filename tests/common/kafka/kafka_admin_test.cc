// kafka_admin against the real broker the `kafka` CTest fixture starts: EnsureTopics (new
// topics with their partitions and settings, existing ones left alone, refusals naming the
// topic), TopicPartitionCount, GroupMemberCount and EnsureServiceTopics.

#include "common/kafka/kafka_admin.h"

#include <map>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/kafka/kafka_flags.h"
#include "common/kafka/kafka_handles.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/kafka_test_client.h"

namespace cdnwarm::common {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string UniqueTopic(const std::string& what) {
  return absl::StrCat("cdnwarm.it.admin.", what, ".", absl::ToUnixMicros(absl::Now()));
}

KafkaPtr NewClient(rd_kafka_type_t type, const KafkaProperties& props) {
  absl::StatusOr<KafkaConfPtr> conf = props.ToConf();
  EXPECT_TRUE(conf.ok()) << conf.status();
  if (!conf.ok()) return nullptr;
  char err[512] = {};
  KafkaPtr rk(rd_kafka_new(type, conf->get(), err, sizeof(err)));
  EXPECT_TRUE(rk) << err;
  if (rk) conf->release();
  return rk;
}

// The broker answers for a topic created a moment ago once a record was delivered to it.
void AwaitTopic(const std::string& topic) {
  const absl::Status s = cdnwarm::testing::ProduceRecords(topic, {{"ready", ""}});
  ASSERT_TRUE(s.ok()) << s;
}

KafkaProperties Unreachable() {
  KafkaProperties p;
  p.Set("bootstrap.servers", "127.0.0.1:1");
  return p;
}

// The topic's settings as the broker describes them.
std::map<std::string, std::string> DescribeTopic(rd_kafka_t* rk, const std::string& topic) {
  std::map<std::string, std::string> out;
  KafkaConfigResourcePtr resource(
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str()));
  KafkaAdminOptionsPtr options(rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS));
  KafkaQueuePtr queue(rd_kafka_queue_new(rk));
  rd_kafka_ConfigResource_t* resources[] = {resource.get()};
  rd_kafka_DescribeConfigs(rk, resources, 1, options.get(), queue.get());
  KafkaEventPtr event(rd_kafka_queue_poll(queue.get(), 30000));
  EXPECT_TRUE(event) << "no DescribeConfigs answer within 30s";
  if (!event) return out;
  EXPECT_EQ(rd_kafka_event_error(event.get()), RD_KAFKA_RESP_ERR_NO_ERROR)
      << rd_kafka_event_error_string(event.get());
  size_t count = 0;
  const rd_kafka_ConfigResource_t** described = rd_kafka_DescribeConfigs_result_resources(
      rd_kafka_event_DescribeConfigs_result(event.get()), &count);
  if (count != 1) return out;
  size_t entries = 0;
  const rd_kafka_ConfigEntry_t** configs = rd_kafka_ConfigResource_configs(described[0], &entries);
  for (size_t i = 0; i < entries; ++i) {
    const char* value = rd_kafka_ConfigEntry_value(configs[i]);
    out[rd_kafka_ConfigEntry_name(configs[i])] = value != nullptr ? value : "";
  }
  return out;
}

TEST(KafkaAdminTest, EnsureTopicsCreatesTopicsWithTheirPartitionsAndSettings) {
  const KafkaProperties props = cdnwarm::testing::TestKafka();
  const std::string a = UniqueTopic("a");
  const std::string b = UniqueTopic("b");
  const absl::Status s =
      EnsureTopics(props,
                   {{.name = a, .partitions = 3, .config = {{"retention.ms", "3600000"}}},
                    {.name = b, .partitions = 2}},
                   absl::Seconds(30));
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_NO_FATAL_FAILURE(AwaitTopic(a));
  ASSERT_NO_FATAL_FAILURE(AwaitTopic(b));

  KafkaPtr rk = NewClient(RD_KAFKA_PRODUCER, props);
  ASSERT_TRUE(rk);
  EXPECT_EQ(TopicPartitionCount(rk.get(), a, absl::Seconds(10)).value_or(-1), 3);
  EXPECT_EQ(TopicPartitionCount(rk.get(), b, absl::Seconds(10)).value_or(-1), 2);
  EXPECT_EQ(DescribeTopic(rk.get(), a)["retention.ms"], "3600000");
  EXPECT_NE(DescribeTopic(rk.get(), b)["retention.ms"], "3600000");
}

TEST(KafkaAdminTest, AnExistingTopicIsLeftAsItIs) {
  const KafkaProperties props = cdnwarm::testing::TestKafka();
  const std::string topic = UniqueTopic("existing");
  ASSERT_TRUE(EnsureTopics(props, {{.name = topic, .partitions = 2}}, absl::Seconds(30)).ok());
  const absl::Status s =
      EnsureTopics(props, {{.name = topic, .partitions = 5, .config = {{"retention.ms", "60000"}}}},
                   absl::Seconds(30));
  EXPECT_TRUE(s.ok()) << s;
  ASSERT_NO_FATAL_FAILURE(AwaitTopic(topic));
  KafkaPtr rk = NewClient(RD_KAFKA_PRODUCER, props);
  ASSERT_TRUE(rk);
  EXPECT_EQ(TopicPartitionCount(rk.get(), topic, absl::Seconds(10)).value_or(-1), 2);
  EXPECT_NE(DescribeTopic(rk.get(), topic)["retention.ms"], "60000");
}

TEST(KafkaAdminTest, RefusalsNameTheTopic) {
  const KafkaProperties props = cdnwarm::testing::TestKafka();
  // Refused by the client before any request.
  absl::Status s =
      EnsureTopics(props, {{.name = "cdnwarm.it.admin.none", .partitions = -2}}, absl::Seconds(30));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("topic \"cdnwarm.it.admin.none\""));

  // Refused by the broker: a setting it does not know.
  const std::string topic = UniqueTopic("badconfig");
  s = EnsureTopics(props, {{.name = topic, .partitions = 1, .config = {{"retention.ms", "soon"}}}},
                   absl::Seconds(30));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr(absl::StrCat("create topic \"", topic, "\"")));
  KafkaPtr rk = NewClient(RD_KAFKA_PRODUCER, props);
  ASSERT_TRUE(rk);
  EXPECT_EQ(TopicPartitionCount(rk.get(), topic, absl::Seconds(10)).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(KafkaAdminTest, NothingToCreateNeedsNoCluster) {
  EXPECT_TRUE(EnsureTopics(Unreachable(), {}, absl::Seconds(1)).ok());
  KafkaProperties bad;
  bad.Set("no.such.setting", "1");
  const absl::Status s = EnsureTopics(bad, {{.name = "x"}}, absl::Seconds(1));
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("no.such.setting"));
}

TEST(KafkaAdminTest, TopicPartitionCountOfAMissingTopicIsNotFound) {
  KafkaPtr rk = NewClient(RD_KAFKA_PRODUCER, cdnwarm::testing::TestKafka());
  ASSERT_TRUE(rk);
  const std::string topic = UniqueTopic("missing");
  const absl::StatusOr<int> n = TopicPartitionCount(rk.get(), topic, absl::Seconds(10));
  EXPECT_EQ(n.status().code(), absl::StatusCode::kNotFound) << n.status();
  EXPECT_THAT(std::string(n.status().message()), HasSubstr(absl::StrCat("topic ", topic)));
}

TEST(KafkaAdminTest, TopicPartitionCountWithoutAClusterIsUnavailable) {
  KafkaPtr rk = NewClient(RD_KAFKA_PRODUCER, Unreachable());
  ASSERT_TRUE(rk);
  const absl::StatusOr<int> n = TopicPartitionCount(rk.get(), "warm.requests", absl::Seconds(1));
  EXPECT_EQ(n.status().code(), absl::StatusCode::kUnavailable) << n.status();
  EXPECT_THAT(std::string(n.status().message()), HasSubstr("metadata of topic warm.requests"));
}

TEST(KafkaAdminTest, GroupMemberCountFollowsAConsumerJoiningAndLeaving) {
  const KafkaProperties props = cdnwarm::testing::TestKafka();
  const std::string topic = UniqueTopic("group");
  const std::string group =
      absl::StrCat("cdnwarm.it.admin.group.", absl::ToUnixMicros(absl::Now()));
  ASSERT_TRUE(EnsureTopics(props, {{.name = topic, .partitions = 1}}, absl::Seconds(30)).ok());
  KafkaPtr admin = NewClient(RD_KAFKA_PRODUCER, props);
  ASSERT_TRUE(admin);

  // The consumer joins first: on a broker just started, the group coordinator answers
  // NOT_COORDINATOR until its offsets topic is loaded, and a consumer waits that out.
  KafkaProperties consumer_props = props;
  consumer_props.Set("group.id", group);
  KafkaPtr consumer = NewClient(RD_KAFKA_CONSUMER, consumer_props);
  ASSERT_TRUE(consumer);
  rd_kafka_poll_set_consumer(consumer.get());
  KafkaTopicPartitionListPtr subscription(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(subscription.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  ASSERT_EQ(rd_kafka_subscribe(consumer.get(), subscription.get()), RD_KAFKA_RESP_ERR_NO_ERROR);
  // Joined once the group gave it the partition.
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  bool assigned = false;
  while (!assigned && absl::Now() < deadline) {
    KafkaMessagePtr m(rd_kafka_consumer_poll(consumer.get(), 200));
    rd_kafka_topic_partition_list_t* raw = nullptr;
    if (rd_kafka_assignment(consumer.get(), &raw) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      KafkaTopicPartitionListPtr assignment(raw);
      assigned = assignment->cnt > 0;
    }
  }
  ASSERT_TRUE(assigned) << "the consumer did not join within 60s";
  absl::StatusOr<size_t> n = GroupMemberCount(admin.get(), group, absl::Seconds(10));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 1u);
  n = GroupMemberCount(admin.get(), group + ".nobody", absl::Seconds(10));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0u) << "a group nobody joined";

  // Closing leaves the group at once (no session timeout to wait out).
  rd_kafka_consumer_close(consumer.get());
  n = GroupMemberCount(admin.get(), group, absl::Seconds(10));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0u);
}

TEST(KafkaAdminTest, GroupMemberCountWithoutAClusterIsUnavailable) {
  KafkaPtr rk = NewClient(RD_KAFKA_PRODUCER, Unreachable());
  ASSERT_TRUE(rk);
  const absl::StatusOr<size_t> n = GroupMemberCount(rk.get(), "some.group", absl::Seconds(1));
  EXPECT_EQ(n.status().code(), absl::StatusCode::kUnavailable) << n.status();
  EXPECT_THAT(std::string(n.status().message()), HasSubstr("describe group some.group"));
}

KafkaConfig ServiceTopics(const KafkaProperties& props, const std::string& base) {
  KafkaConfig c;
  c.properties = props;
  c.requests_topic = base + ".requests";
  c.results_topic = base + ".results";
  c.dead_letter_topic = base + ".dlq";
  c.topic_partitions = 4;
  return c;
}

TEST(KafkaAdminTest, EnsureServiceTopicsCreatesTheThreeTopicsUnlessToldNotTo) {
  const KafkaProperties props = cdnwarm::testing::TestKafka();
  KafkaPtr rk = NewClient(RD_KAFKA_PRODUCER, props);
  ASSERT_TRUE(rk);

  KafkaConfig off = ServiceTopics(props, UniqueTopic("off"));
  off.create_topics = false;
  EXPECT_TRUE(EnsureServiceTopics(off).ok());
  EXPECT_EQ(TopicPartitionCount(rk.get(), off.requests_topic, absl::Seconds(10)).status().code(),
            absl::StatusCode::kNotFound);

  const KafkaConfig on = ServiceTopics(props, UniqueTopic("on"));
  const absl::Status s = EnsureServiceTopics(on);
  ASSERT_TRUE(s.ok()) << s;
  for (const std::string& topic : {on.requests_topic, on.results_topic, on.dead_letter_topic}) {
    ASSERT_NO_FATAL_FAILURE(AwaitTopic(topic));
    EXPECT_EQ(TopicPartitionCount(rk.get(), topic, absl::Seconds(10)).value_or(-1), 4) << topic;
  }
}

TEST(KafkaAdminTest, EnsureServiceTopicsSaysWhichBootstrapDidNotAnswer) {
  // Both wait out their admin timeout (the services' 30 s, shortened here), side by side.
  KafkaConfig unreachable = ServiceTopics(Unreachable(), "cdnwarm.it.admin.unreachable");
  KafkaConfig unset = ServiceTopics(KafkaProperties(), "cdnwarm.it.admin.unset");
  unreachable.admin_timeout = absl::Seconds(2);
  unset.admin_timeout = absl::Seconds(2);
  absl::Status without_bootstrap;
  std::thread other([&] { without_bootstrap = EnsureServiceTopics(unset); });
  const absl::Status s = EnsureServiceTopics(unreachable);
  other.join();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("is a Kafka broker reachable at 127.0.0.1:1?"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("--kafka_bootstrap"));
  EXPECT_EQ(without_bootstrap.code(), absl::StatusCode::kUnavailable) << without_bootstrap;
  EXPECT_THAT(std::string(without_bootstrap.message()),
              HasSubstr("is a Kafka broker reachable at (no bootstrap.servers set)?"));

  // Other errors come back as they are, without the hint.
  KafkaConfig bad = ServiceTopics(Unreachable(), "cdnwarm.it.admin.bad");
  bad.topic_partitions = -2;  // refused before any request
  const absl::Status refused = EnsureServiceTopics(bad);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << refused;
  EXPECT_THAT(std::string(refused.message()), Not(HasSubstr("reachable")));
}

TEST(KafkaAdminTest, DurabilityIsThreeCopiesAndTwoInSyncOrWhatASmallerClusterHolds) {
  const auto resolved = [](int rf, int isr, int brokers) {
    absl::StatusOr<Durability> d = ResolveDurability({rf, isr}, brokers);
    return d.ok() ? absl::StrCat(d->replication_factor, "/", d->min_insync_replicas)
                  : std::string(d.status().message());
  };
  EXPECT_EQ(resolved(0, 0, 1), "1/1");
  EXPECT_EQ(resolved(0, 0, 2), "2/2");
  EXPECT_EQ(resolved(0, 0, 3), "3/2");
  EXPECT_EQ(resolved(0, 0, 7), "3/2");
  EXPECT_EQ(resolved(0, 0, 0), "1/1") << "no broker listed: the creation says why";
  // What was configured is kept, even beyond the cluster: creating then fails saying so.
  EXPECT_EQ(resolved(3, 0, 1), "3/2");
  EXPECT_EQ(resolved(5, 3, 7), "5/3");
  EXPECT_EQ(resolved(0, 1, 3), "3/1");
  EXPECT_THAT(resolved(0, 3, 2), HasSubstr("--topic_min_insync_replicas=3 is more than the 2"));
}

TEST(KafkaAdminTest, EnsureServiceTopicsGivesTheTopicsTheirDurabilityAndNamesWhatIsWeaker) {
  const KafkaProperties props = cdnwarm::testing::TestKafka();
  KafkaPtr rk = NewClient(RD_KAFKA_PRODUCER, props);
  ASSERT_TRUE(rk);
  const KafkaConfig c = ServiceTopics(props, UniqueTopic("durable"));
  const absl::Status s = EnsureServiceTopics(c, {{.name = c.requests_topic + ".extra"}});
  ASSERT_TRUE(s.ok()) << s;
  // One broker here: one copy, and min.insync.replicas set on each topic, not left to the
  // broker's default.
  for (const std::string& topic :
       {c.requests_topic, c.results_topic, c.dead_letter_topic, c.requests_topic + ".extra"}) {
    ASSERT_NO_FATAL_FAILURE(AwaitTopic(topic));
    const std::map<std::string, std::string> described = DescribeTopic(rk.get(), topic);
    EXPECT_EQ(described.count("min.insync.replicas") ? described.at("min.insync.replicas") : "",
              "1")
        << topic;
  }
  const auto lines = [](const std::vector<WeakSetting>& weaker) {
    std::vector<std::string> out;
    for (const WeakSetting& w : weaker) out.push_back(absl::StrCat(w.topic, ": ", w.setting));
    return out;
  };
  absl::StatusOr<std::vector<WeakSetting>> weaker =
      WeakerSettings(rk.get(), {c.requests_topic, c.results_topic}, {1, 1}, absl::Seconds(10));
  ASSERT_TRUE(weaker.ok()) << weaker.status();
  EXPECT_THAT(lines(*weaker), ::testing::IsEmpty());
  // Against production's 3 and 2, both settings of both topics are named.
  weaker = WeakerSettings(rk.get(), {c.requests_topic, c.results_topic}, {3, 2}, absl::Seconds(10));
  ASSERT_TRUE(weaker.ok()) << weaker.status();
  EXPECT_THAT(lines(*weaker),
              ::testing::UnorderedElementsAre(c.requests_topic + ": replication.factor 1 < 3",
                                              c.results_topic + ": replication.factor 1 < 3",
                                              c.requests_topic + ": min.insync.replicas 1 < 2",
                                              c.results_topic + ": min.insync.replicas 1 < 2"));
  EXPECT_EQ(
      WeakerSettings(rk.get(), {UniqueTopic("absent")}, {1, 1}, absl::Seconds(10)).status().code(),
      absl::StatusCode::kNotFound);

  // Three copies asked of a one-broker cluster: refused, saying what fits.
  KafkaConfig three = ServiceTopics(props, UniqueTopic("three"));
  three.topic_replication_factor = 3;
  const absl::Status refused = EnsureServiceTopics(three);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("--topic_replication_factor=1 fits"));
  EXPECT_THAT(std::string(refused.message()), Not(HasSubstr("reachable")));
}

}  // namespace
}  // namespace cdnwarm::common
