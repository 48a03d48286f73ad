// NewKafkaClient: a client from a configuration, or librdkafka's refusal named by client
// kind (the configuration is freed either way; ASan checks it).

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

}  // namespace
}  // namespace cdnwarm::common
