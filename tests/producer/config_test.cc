// ProducerConfigFromFlags: the producer's own flags with their defaults and ranges (errors
// name the flag), the --client_burst default, and the shared, Kafka and fetch flags' errors.

#include "producer/config.h"

#include <functional>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

ABSL_DECLARE_FLAG(std::string, auth_token_file);
ABSL_DECLARE_FLAG(absl::Duration, job_window);
ABSL_DECLARE_FLAG(int, max_jobs);
ABSL_DECLARE_FLAG(absl::Duration, delivery_timeout);
ABSL_DECLARE_FLAG(int, max_queued_records);
ABSL_DECLARE_FLAG(absl::Duration, bulk_linger);
ABSL_DECLARE_FLAG(int, expansion_threads);
ABSL_DECLARE_FLAG(double, client_rate);
ABSL_DECLARE_FLAG(double, client_burst);
ABSL_DECLARE_FLAG(int, max_batch_urls);
ABSL_DECLARE_FLAG(std::string, instance);
ABSL_DECLARE_FLAG(std::string, replica_id);
ABSL_DECLARE_FLAG(std::vector<std::string>, allowed_hosts);
ABSL_DECLARE_FLAG(std::vector<std::string>, regions);
ABSL_DECLARE_FLAG(int, topic_partitions);

namespace cdnwarm::producer {
namespace {

using ::testing::ElementsAre;
using ::testing::StartsWith;

TEST(ProducerConfigTest, DefaultsAreThoseDocumented) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_replica_id, "producer-0");
  absl::StatusOr<ProducerConfig> c = ProducerConfigFromFlags();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->common.service, "producer");
  EXPECT_EQ(c->common.server.grpc_address, "0.0.0.0:50051");
  EXPECT_EQ(c->common.server.admin_address, "0.0.0.0:9101");
  EXPECT_EQ(c->kafka.requests_topic, "warm.requests");
  EXPECT_EQ(*c->kafka.properties.Find("client.id"), "cdnwarm-producer-producer-0");
  EXPECT_TRUE(c->fetch_guard.hosts.empty());
  EXPECT_EQ(c->auth_token_file, "");
  EXPECT_EQ(c->job_window, absl::Hours(24));
  EXPECT_EQ(c->max_jobs, 10000u);
  EXPECT_EQ(c->delivery_timeout, absl::Seconds(30));
  EXPECT_EQ(c->max_queued_records, 100000);
  EXPECT_EQ(c->bulk_linger, absl::Milliseconds(10));
  EXPECT_EQ(c->expansion_threads, 2);
  EXPECT_EQ(c->client_rate, 0);
  EXPECT_EQ(c->client_burst, 1);
  EXPECT_EQ(c->max_batch_urls, 1'000'000u);
}

TEST(ProducerConfigTest, SetFlagsAreTaken) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_auth_token_file, "/run/secrets/token");
  absl::SetFlag(&FLAGS_job_window, absl::Hours(2));
  absl::SetFlag(&FLAGS_max_jobs, 5);
  absl::SetFlag(&FLAGS_delivery_timeout, absl::Seconds(3));
  absl::SetFlag(&FLAGS_max_queued_records, 7);
  absl::SetFlag(&FLAGS_bulk_linger, absl::Milliseconds(25));
  absl::SetFlag(&FLAGS_expansion_threads, 4);
  absl::SetFlag(&FLAGS_client_rate, 20.0);
  absl::SetFlag(&FLAGS_client_burst, 3.0);
  absl::SetFlag(&FLAGS_max_batch_urls, 11);
  absl::SetFlag(&FLAGS_regions, std::vector<std::string>{"us-east", "eu-west"});
  absl::StatusOr<ProducerConfig> c = ProducerConfigFromFlags();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->auth_token_file, "/run/secrets/token");
  EXPECT_EQ(c->job_window, absl::Hours(2));
  EXPECT_EQ(c->max_jobs, 5u);
  EXPECT_EQ(c->delivery_timeout, absl::Seconds(3));
  EXPECT_EQ(c->max_queued_records, 7);
  EXPECT_EQ(c->bulk_linger, absl::Milliseconds(25));
  EXPECT_EQ(c->expansion_threads, 4);
  EXPECT_EQ(c->client_rate, 20.0);
  EXPECT_EQ(c->client_burst, 3.0);
  EXPECT_EQ(c->max_batch_urls, 11u);
  EXPECT_THAT(c->kafka.regions, ElementsAre("us-east", "eu-west"));
}

TEST(ProducerConfigTest, TheBurstDefaultsToTenSecondsOfTheRateAndAtLeastOne) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_client_rate, 5.0);
  EXPECT_EQ(ProducerConfigFromFlags()->client_burst, 50.0);
  absl::SetFlag(&FLAGS_client_rate, 0.05);
  EXPECT_EQ(ProducerConfigFromFlags()->client_burst, 1.0);
}

// A flag, a value inside its range and one outside, and the error the latter gives.
struct Bound {
  std::function<void(bool inside)> set;
  std::string error;
};

TEST(ProducerConfigTest, ValuesOutOfRangeNameTheFlag) {
  const std::vector<Bound> bounds = {
      {[](bool in) { absl::SetFlag(&FLAGS_job_window, in ? absl::Minutes(1) : absl::Seconds(59)); },
       "--job_window must be between 1m and 720h"},
      {[](bool in) {
         absl::SetFlag(&FLAGS_job_window,
                       in ? absl::Hours(720) : absl::Hours(720) + absl::Seconds(1));
       },
       "--job_window must be between 1m and 720h"},
      {[](bool in) { absl::SetFlag(&FLAGS_max_jobs, in ? 1 : 0); },
       "--max_jobs must be between 1 and 10000000"},
      {[](bool in) { absl::SetFlag(&FLAGS_max_jobs, in ? 10'000'000 : 10'000'001); },
       "--max_jobs must be between 1 and 10000000"},
      {[](bool in) {
         absl::SetFlag(&FLAGS_delivery_timeout, in ? absl::Seconds(1) : absl::Milliseconds(999));
       },
       "--delivery_timeout must be between 1s and 10m"},
      {[](bool in) {
         absl::SetFlag(&FLAGS_delivery_timeout,
                       in ? absl::Minutes(10) : absl::Minutes(10) + absl::Milliseconds(1));
       },
       "--delivery_timeout must be between 1s and 10m"},
      {[](bool in) { absl::SetFlag(&FLAGS_max_queued_records, in ? 1 : 0); },
       "--max_queued_records must be between 1 and 10000000"},
      {[](bool in) { absl::SetFlag(&FLAGS_max_queued_records, in ? 10'000'000 : 10'000'001); },
       "--max_queued_records must be between 1 and 10000000"},
      {[](bool in) {
         absl::SetFlag(&FLAGS_bulk_linger, in ? absl::ZeroDuration() : absl::Milliseconds(-1));
       },
       "--bulk_linger must be between 0 and 1s, and shorter than --delivery_timeout"},
      {[](bool in) {
         absl::SetFlag(&FLAGS_bulk_linger,
                       in ? absl::Seconds(1) : absl::Seconds(1) + absl::Milliseconds(1));
       },
       "--bulk_linger must be between 0 and 1s, and shorter than --delivery_timeout"},
      {[](bool in) {
         absl::SetFlag(&FLAGS_delivery_timeout, absl::Seconds(1));
         absl::SetFlag(&FLAGS_bulk_linger, in ? absl::Milliseconds(999) : absl::Seconds(1));
       },
       "--bulk_linger must be between 0 and 1s, and shorter than --delivery_timeout"},
      {[](bool in) { absl::SetFlag(&FLAGS_expansion_threads, in ? 1 : 0); },
       "--expansion_threads must be between 1 and 64"},
      {[](bool in) { absl::SetFlag(&FLAGS_expansion_threads, in ? 64 : 65); },
       "--expansion_threads must be between 1 and 64"},
      {[](bool in) { absl::SetFlag(&FLAGS_client_rate, in ? 0.0 : -0.5); },
       "--client_rate must be between 0 and 1e7, --client_burst between 0 and 1e8"},
      {[](bool in) { absl::SetFlag(&FLAGS_client_rate, in ? 1e7 : 1.1e7); },
       "--client_rate must be between 0 and 1e7, --client_burst between 0 and 1e8"},
      {[](bool in) { absl::SetFlag(&FLAGS_client_burst, in ? 1e8 : 1.1e8); },
       "--client_rate must be between 0 and 1e7, --client_burst between 0 and 1e8"},
      {[](bool in) { absl::SetFlag(&FLAGS_client_burst, in ? 0.0 : -1.0); },
       "--client_rate must be between 0 and 1e7, --client_burst between 0 and 1e8"},
      {[](bool in) { absl::SetFlag(&FLAGS_max_batch_urls, in ? 1 : 0); },
       "--max_batch_urls must be between 1 and 100000000"},
      {[](bool in) { absl::SetFlag(&FLAGS_max_batch_urls, in ? 100'000'000 : 100'000'001); },
       "--max_batch_urls must be between 1 and 100000000"},
  };
  for (const Bound& b : bounds) {
    absl::FlagSaver saver;
    b.set(true);
    absl::StatusOr<ProducerConfig> c = ProducerConfigFromFlags();
    EXPECT_TRUE(c.ok()) << b.error << " (inside): " << c.status();
    b.set(false);
    c = ProducerConfigFromFlags();
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << b.error;
    EXPECT_EQ(c.status().message(), b.error);
  }
}

TEST(ProducerConfigTest, SharedKafkaAndFetchFlagErrorsComeThrough) {
  {
    absl::FlagSaver saver;
    absl::SetFlag(&FLAGS_instance, "Not-Valid");
    EXPECT_THAT(std::string(ProducerConfigFromFlags().status().message()),
                StartsWith("--instance: "));
  }
  {
    absl::FlagSaver saver;
    absl::SetFlag(&FLAGS_topic_partitions, 0);
    EXPECT_EQ(ProducerConfigFromFlags().status().message(),
              "--topic_partitions must be between 1 and 10000");
  }
  {
    absl::FlagSaver saver;
    absl::SetFlag(&FLAGS_allowed_hosts, std::vector<std::string>{"not a host"});
    EXPECT_THAT(std::string(ProducerConfigFromFlags().status().message()),
                StartsWith("--allowed_hosts: "));
  }
}

}  // namespace
}  // namespace cdnwarm::producer
