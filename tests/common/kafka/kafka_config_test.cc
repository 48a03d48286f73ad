#include "common/kafka/kafka_config.h"

#include <fstream>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "common/core/config.h"
#include "common/kafka/kafka_flags.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

ABSL_DECLARE_FLAG(std::string, kafka_properties);
ABSL_DECLARE_FLAG(std::string, kafka_bootstrap);
ABSL_DECLARE_FLAG(std::vector<std::string>, kafka_property);
ABSL_DECLARE_FLAG(std::string, instance);
ABSL_DECLARE_FLAG(std::string, grpc_address);
ABSL_DECLARE_FLAG(std::string, log_level);

namespace cdnwarm::common {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

TEST(KafkaPropertiesTest, ParsesJavaPropertiesSyntax) {
  const char* text =
      "# comment\n"
      "! another comment\n"
      "\n"
      "bootstrap.servers = broker1:9093,broker2:9093\n"
      "security.protocol: SASL_SSL\n"
      "  sasl.mechanism=SCRAM-SHA-512   \n"
      "sasl.jaas.config=a \\\n"
      "    b \\\n"
      "    c\n"
      "empty.value=\n"
      "security.protocol=SSL\n";
  absl::StatusOr<KafkaProperties> p = KafkaProperties::Parse(text, "test.properties");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_THAT(p->entries(),
              ::testing::ElementsAre(Pair("bootstrap.servers", "broker1:9093,broker2:9093"),
                                     Pair("security.protocol", "SSL"),
                                     Pair("sasl.mechanism", "SCRAM-SHA-512"),
                                     Pair("sasl.jaas.config", "a b c"), Pair("empty.value", "")));
}

TEST(KafkaPropertiesTest, ErrorsNameFileAndLine) {
  absl::StatusOr<KafkaProperties> p =
      KafkaProperties::Parse("a=1\n\nthis line has no separator\n", "client.properties");
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), HasSubstr("client.properties:3: expected key=value"));

  p = KafkaProperties::Parse("=value\n", "x");
  EXPECT_THAT(p.status().message(), HasSubstr("x:1: empty property name"));

  p = KafkaProperties::Parse("a=b \\", "y");
  EXPECT_THAT(p.status().message(), HasSubstr("continuation at end of file"));
}

TEST(KafkaPropertiesTest, MissingFileIsNotFound) {
  absl::StatusOr<KafkaProperties> p = KafkaProperties::LoadFile("/nonexistent/kafka.properties");
  EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(p.status().message(), HasSubstr("/nonexistent/kafka.properties"));
}

TEST(KafkaPropertiesTest, ToConfNamesRefusedPropertyWithoutItsValue) {
  KafkaProperties p;
  p.Set("bootstrap.servers", "127.0.0.1:1");
  p.Set("no.such.property", "hunter2");
  absl::StatusOr<KafkaConfPtr> conf = p.ToConf();
  ASSERT_FALSE(conf.ok());
  EXPECT_THAT(conf.status().message(), HasSubstr("no.such.property"));
  EXPECT_THAT(conf.status().message(), Not(HasSubstr("hunter2")));
}

TEST(KafkaPropertiesTest, ToConfAppliesValues) {
  KafkaProperties p;
  p.Set("bootstrap.servers", "127.0.0.1:1");
  p.Set("linger.ms", "7");
  absl::StatusOr<KafkaConfPtr> conf = p.ToConf();
  ASSERT_TRUE(conf.ok()) << conf.status();
  char buf[64];
  size_t size = sizeof(buf);
  ASSERT_EQ(rd_kafka_conf_get(conf->get(), "linger.ms", buf, &size), RD_KAFKA_CONF_OK);
  EXPECT_STREQ(buf, "7");
}

TEST(KafkaPropertiesTest, RedactsSecrets) {
  KafkaProperties p;
  p.Set("sasl.username", "svc");
  p.Set("sasl.password", "hunter2");
  p.Set("ssl.key.password", "k3y");
  p.Set("sasl.jaas.config", "org.apache...PlainLoginModule password=\"x\"");
  p.Set("sasl.oauthbearer.client.secret", "s3cr3t");
  const std::string r = p.Redacted();
  EXPECT_THAT(r, HasSubstr("sasl.username=svc"));
  for (const char* secret : {"hunter2", "k3y", "password=\"x\"", "s3cr3t"}) {
    EXPECT_THAT(r, Not(HasSubstr(secret)));
  }
}

// librdkafka#4895: before 2.6.1, SCRAM logins to Kafka 4 fail as "invalid credentials".
TEST(KafkaPropertiesTest, ScramOnALibrdkafkaBefore261GetsANoteNamingTheFixAndTheWayAround) {
  constexpr int k202 = 0x020002ff, k260 = 0x020600ff, k261 = 0x020601ff, k2120 = 0x020c00ff;
  KafkaProperties scram;
  scram.Set("security.protocol", "sasl_ssl");
  scram.Set("sasl.mechanism", "SCRAM-SHA-512");
  scram.Set("sasl.password", "hunter2");
  const std::string note = ScramCompatibilityNote(scram, k202);
  EXPECT_THAT(note, HasSubstr("librdkafka (2.0.2)"));
  EXPECT_THAT(note, HasSubstr("SCRAM-SHA-512"));
  EXPECT_THAT(note, HasSubstr("Kafka 4.0 or later"));
  EXPECT_THAT(note, HasSubstr("2.6.1"));
  EXPECT_THAT(note, Not(HasSubstr("hunter2")));
  EXPECT_THAT(ScramCompatibilityNote(scram, k260), HasSubstr("librdkafka (2.6.0)"));
  EXPECT_EQ(ScramCompatibilityNote(scram, k261), "");
  EXPECT_EQ(ScramCompatibilityNote(scram, k2120), "");

  scram.Set("sasl.mechanism", "scram-sha-256");
  EXPECT_THAT(ScramCompatibilityNote(scram, k202), HasSubstr("scram-sha-256"));
  KafkaProperties plain;
  plain.Set("sasl.mechanism", "PLAIN");
  EXPECT_EQ(ScramCompatibilityNote(plain, k202), "");
  EXPECT_EQ(ScramCompatibilityNote(KafkaProperties(), k202), "");
}

TEST(KafkaPropertiesTest, SetFromArgNeedsKeyAndEquals) {
  KafkaProperties p;
  EXPECT_TRUE(p.SetFromArg("acks=all").ok());
  EXPECT_EQ(*p.Find("acks"), "all");
  EXPECT_EQ(p.SetFromArg("acks").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(p.SetFromArg("=all").code(), absl::StatusCode::kInvalidArgument);
}

class CommonConfigTest : public ::testing::Test {
 protected:
  void TearDown() override {
    absl::SetFlag(&FLAGS_kafka_properties, "");
    absl::SetFlag(&FLAGS_kafka_bootstrap, "");
    absl::SetFlag(&FLAGS_kafka_property, {});
    absl::SetFlag(&FLAGS_instance, "");
    absl::SetFlag(&FLAGS_grpc_address, "");
    absl::SetFlag(&FLAGS_log_level, "info");
  }
  const ServiceInfo info_{.name = "producer",
                          .default_grpc_port = 50051,
                          .default_admin_port = 9101,
                          .description = "test"};
};

TEST_F(CommonConfigTest, FileThenBootstrapThenPropertiesWin) {
  const std::string path = ::testing::TempDir() + "/cdnwarm_test.properties";
  std::ofstream(path) << "bootstrap.servers=file:9092\nlinger.ms=5\nacks=1\n";
  absl::SetFlag(&FLAGS_kafka_properties, path);
  absl::SetFlag(&FLAGS_kafka_bootstrap, "flag:9092");
  absl::SetFlag(&FLAGS_kafka_property, std::vector<std::string>{"acks=all"});
  absl::SetFlag(&FLAGS_instance, "blue");

  absl::StatusOr<CommonConfig> c = CommonConfigFromFlags(info_);
  ASSERT_TRUE(c.ok()) << c.status();
  absl::StatusOr<KafkaConfig> k = KafkaConfigFromFlags(info_, *c);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(*k->properties.Find("bootstrap.servers"), "flag:9092");
  EXPECT_EQ(*k->properties.Find("linger.ms"), "5");
  EXPECT_EQ(*k->properties.Find("acks"), "all");
  EXPECT_EQ(c->server.grpc_address, "0.0.0.0:50051");
  EXPECT_EQ(c->server.admin_address, "0.0.0.0:9101");
  EXPECT_EQ(k->requests_topic, "warm.requests-blue");
  EXPECT_EQ(k->results_topic, "warm.results-blue");
  EXPECT_EQ(k->dead_letter_topic, "warm.dlq-blue");
  EXPECT_THAT(*k->properties.Find("client.id"), HasSubstr("cdnwarm-producer-"));
}

TEST_F(CommonConfigTest, BadValuesNameTheFlag) {
  absl::SetFlag(&FLAGS_instance, "Blue");
  EXPECT_THAT(CommonConfigFromFlags(info_).status().message(), HasSubstr("--instance"));
  absl::SetFlag(&FLAGS_instance, "");

  absl::SetFlag(&FLAGS_grpc_address, "no-port");
  EXPECT_THAT(CommonConfigFromFlags(info_).status().message(), HasSubstr("--grpc_address"));
  absl::SetFlag(&FLAGS_grpc_address, "");

  absl::SetFlag(&FLAGS_log_level, "chatty");
  EXPECT_THAT(CommonConfigFromFlags(info_).status().message(), HasSubstr("--log_level"));
  absl::SetFlag(&FLAGS_log_level, "info");

  const CommonConfig common = *CommonConfigFromFlags(info_);
  absl::SetFlag(&FLAGS_kafka_properties, "/nonexistent.properties");
  EXPECT_THAT(KafkaConfigFromFlags(info_, common).status().message(),
              HasSubstr("--kafka_properties"));
  absl::SetFlag(&FLAGS_kafka_properties, "");

  absl::SetFlag(&FLAGS_kafka_property, std::vector<std::string>{"socket.timeout.ms=banana"});
  EXPECT_THAT(KafkaConfigFromFlags(info_, common).status().message(),
              HasSubstr("socket.timeout.ms"));
}

}  // namespace
}  // namespace cdnwarm::common
