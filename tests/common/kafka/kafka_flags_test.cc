// kafka_flags: CheckTopic's rule, and KafkaConfigFromFlags / KafkaServiceConfigFromFlags
// turning the --kafka_*, topic, --create_topics, --topic_partitions and --regions flags into a
// KafkaConfig (instance suffix, default client.id), with errors naming the flag.

#include "common/kafka/kafka_flags.h"

#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

ABSL_DECLARE_FLAG(std::string, kafka_bootstrap);
ABSL_DECLARE_FLAG(std::vector<std::string>, kafka_property);
ABSL_DECLARE_FLAG(std::string, requests_topic);
ABSL_DECLARE_FLAG(std::string, results_topic);
ABSL_DECLARE_FLAG(std::string, dead_letter_topic);
ABSL_DECLARE_FLAG(bool, create_topics);
ABSL_DECLARE_FLAG(int, topic_partitions);
ABSL_DECLARE_FLAG(int, topic_replication_factor);
ABSL_DECLARE_FLAG(int, topic_min_insync_replicas);
ABSL_DECLARE_FLAG(std::vector<std::string>, regions);
ABSL_DECLARE_FLAG(std::string, instance);
ABSL_DECLARE_FLAG(std::string, replica_id);

namespace cdnwarm::common {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr ServiceInfo kInfo{.name = "producer",
                            .default_grpc_port = 50051,
                            .default_admin_port = 9101,
                            .description = "test"};

CommonConfig Common(const std::string& instance = "") {
  CommonConfig c;
  c.service = "producer";
  c.replica_id = "replica-7";
  c.instance = instance;
  return c;
}

TEST(CheckTopicTest, AcceptsKafkaTopicNames) {
  for (const std::string& topic :
       std::vector<std::string>{"warm.requests", "a", "A-Z_0.9", "..a", std::string(249, 't')}) {
    EXPECT_TRUE(CheckTopic("requests_topic", topic).ok()) << topic;
  }
}

TEST(CheckTopicTest, RefusesOtherNamesNamingTheFlag) {
  for (const std::string& topic : std::vector<std::string>{
           "", ".", "..", std::string(250, 't'), "warm requests", "warm/requests", "warm:x", "é"}) {
    const absl::Status s = CheckTopic("results_topic", topic);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << topic;
    EXPECT_EQ(s.message(), "--results_topic=\"" + topic +
                               "\" is not a valid Kafka topic name (1..249 of [a-zA-Z0-9._-])");
  }
}

TEST(KafkaFlagsTest, DefaultsGiveTheStandardTopicsAndAClientIdOfTheReplica) {
  absl::FlagSaver saver;
  absl::StatusOr<KafkaConfig> k = KafkaConfigFromFlags(kInfo, Common());
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->requests_topic, "warm.requests");
  EXPECT_EQ(k->results_topic, "warm.results");
  EXPECT_EQ(k->dead_letter_topic, "warm.dlq");
  EXPECT_TRUE(k->create_topics);
  EXPECT_EQ(k->topic_partitions, 6);
  EXPECT_EQ(k->admin_timeout, absl::Seconds(30));
  EXPECT_TRUE(k->regions.empty());
  ASSERT_NE(k->properties.Find("client.id"), nullptr);
  EXPECT_EQ(*k->properties.Find("client.id"), "cdnwarm-producer-replica-7");
  EXPECT_EQ(k->properties.Find("bootstrap.servers"), nullptr);
}

TEST(KafkaFlagsTest, TopicFlagsGetTheInstanceSuffix) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_requests_topic, "jobs.in");
  absl::SetFlag(&FLAGS_results_topic, "jobs.out");
  absl::SetFlag(&FLAGS_dead_letter_topic, "jobs.dead");
  absl::StatusOr<KafkaConfig> k = KafkaConfigFromFlags(kInfo, Common("green"));
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->requests_topic, "jobs.in-green");
  EXPECT_EQ(k->results_topic, "jobs.out-green");
  EXPECT_EQ(k->dead_letter_topic, "jobs.dead-green");
}

TEST(KafkaFlagsTest, AnInvalidTopicNamesItsFlag) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_dead_letter_topic, "dead letters");
  absl::Status s = KafkaConfigFromFlags(kInfo, Common()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), StartsWith("--dead_letter_topic=\"dead letters\""));

  // The limit applies to the name with the suffix: 245 characters plus "-blue" is too long.
  absl::SetFlag(&FLAGS_dead_letter_topic, "warm.dlq");
  absl::SetFlag(&FLAGS_results_topic, std::string(245, 'r'));
  EXPECT_TRUE(KafkaConfigFromFlags(kInfo, Common()).ok());
  s = KafkaConfigFromFlags(kInfo, Common("blue")).status();
  EXPECT_THAT(std::string(s.message()),
              StartsWith("--results_topic=\"" + std::string(245, 'r') + "-blue\""));
}

TEST(KafkaFlagsTest, AClientIdFromThePropertiesIsKept) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_kafka_bootstrap, "broker:9092");
  absl::SetFlag(&FLAGS_kafka_property, std::vector<std::string>{"client.id=mine", "linger.ms=3"});
  absl::StatusOr<KafkaConfig> k = KafkaConfigFromFlags(kInfo, Common());
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(*k->properties.Find("client.id"), "mine");
  EXPECT_EQ(*k->properties.Find("linger.ms"), "3");
  EXPECT_EQ(*k->properties.Find("bootstrap.servers"), "broker:9092");
}

TEST(KafkaFlagsTest, PropertyErrorsNameTheFlagOrTheProperty) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_kafka_property, std::vector<std::string>{"acks"});
  absl::Status s = KafkaConfigFromFlags(kInfo, Common()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), StartsWith("--kafka_property: "));

  // librdkafka refuses it at start-up, not at first use.
  absl::SetFlag(&FLAGS_kafka_property, std::vector<std::string>{"no.such.setting=1"});
  s = KafkaConfigFromFlags(kInfo, Common()).status();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("no.such.setting"));
}

TEST(KafkaFlagsTest, RegionsAreKeptInOrderAndABadOneNamesRegions) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_regions, std::vector<std::string>{"us-east", "eu-west"});
  absl::StatusOr<KafkaConfig> k = KafkaConfigFromFlags(kInfo, Common());
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_THAT(k->regions, ElementsAre("us-east", "eu-west"));

  absl::SetFlag(&FLAGS_regions, std::vector<std::string>{"us-east", "EU"});
  const absl::Status s = KafkaConfigFromFlags(kInfo, Common()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), StartsWith("--regions: "));
  EXPECT_THAT(std::string(s.message()), HasSubstr("EU"));
}

TEST(KafkaFlagsTest, TopicPartitionsMustBeBetweenOneAndTenThousand) {
  absl::FlagSaver saver;
  for (int ok : {1, 10000}) {
    absl::SetFlag(&FLAGS_topic_partitions, ok);
    absl::StatusOr<KafkaConfig> k = KafkaConfigFromFlags(kInfo, Common());
    ASSERT_TRUE(k.ok()) << ok << ": " << k.status();
    EXPECT_EQ(k->topic_partitions, ok);
  }
  for (int bad : {0, 10001}) {
    absl::SetFlag(&FLAGS_topic_partitions, bad);
    const absl::Status s = KafkaConfigFromFlags(kInfo, Common()).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.message(), "--topic_partitions must be between 1 and 10000") << bad;
  }
}

TEST(KafkaFlagsTest, DurabilityFlagsAreCheckedAndNamed) {
  absl::FlagSaver saver;
  absl::StatusOr<KafkaConfig> k = KafkaConfigFromFlags(kInfo, Common());
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->topic_replication_factor, 0) << "0: decided against the cluster";
  EXPECT_EQ(k->topic_min_insync_replicas, 0);
  absl::SetFlag(&FLAGS_topic_replication_factor, 3);
  absl::SetFlag(&FLAGS_topic_min_insync_replicas, 2);
  k = KafkaConfigFromFlags(kInfo, Common());
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->topic_replication_factor, 3);
  EXPECT_EQ(k->topic_min_insync_replicas, 2);
  absl::SetFlag(&FLAGS_topic_min_insync_replicas, 4);
  EXPECT_EQ(KafkaConfigFromFlags(kInfo, Common()).status().message(),
            "--topic_min_insync_replicas=4 is more than --topic_replication_factor=3: no write "
            "could ever be acknowledged");
  absl::SetFlag(&FLAGS_topic_replication_factor, -1);
  EXPECT_EQ(KafkaConfigFromFlags(kInfo, Common()).status().message(),
            "--topic_replication_factor must be between 0 (the default) and 100");
}

TEST(KafkaFlagsTest, CreateTopicsCanBeTurnedOff) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_create_topics, false);
  absl::StatusOr<KafkaConfig> k = KafkaConfigFromFlags(kInfo, Common());
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_FALSE(k->create_topics);
}

TEST(KafkaServiceConfigTest, FillsBothFromTheFlags) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_instance, "blue");
  absl::SetFlag(&FLAGS_replica_id, "p-0");
  CommonConfig common;
  KafkaConfig kafka;
  ASSERT_TRUE(KafkaServiceConfigFromFlags(kInfo, &common, &kafka).ok());
  EXPECT_EQ(common.service, "producer");
  EXPECT_EQ(common.instance, "blue");
  EXPECT_EQ(common.replica_id, "p-0");
  EXPECT_EQ(kafka.requests_topic, "warm.requests-blue");
  EXPECT_EQ(*kafka.properties.Find("client.id"), "cdnwarm-producer-p-0");
}

TEST(KafkaServiceConfigTest, AnErrorOfEitherSideLeavesTheOutputsAsTheyWere) {
  absl::FlagSaver saver;
  CommonConfig common;
  common.service = "untouched";
  KafkaConfig kafka;
  kafka.requests_topic = "untouched";

  absl::SetFlag(&FLAGS_instance, "Blue");
  absl::Status s = KafkaServiceConfigFromFlags(kInfo, &common, &kafka);
  EXPECT_THAT(std::string(s.message()), StartsWith("--instance: "));
  EXPECT_EQ(common.service, "untouched");
  EXPECT_EQ(kafka.requests_topic, "untouched");

  absl::SetFlag(&FLAGS_instance, "");
  absl::SetFlag(&FLAGS_topic_partitions, 0);
  s = KafkaServiceConfigFromFlags(kInfo, &common, &kafka);
  EXPECT_EQ(s.message(), "--topic_partitions must be between 1 and 10000");
  EXPECT_EQ(common.service, "untouched");
  EXPECT_EQ(kafka.requests_topic, "untouched");
}

}  // namespace
}  // namespace cdnwarm::common
