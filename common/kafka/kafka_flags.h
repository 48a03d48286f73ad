#pragma once

// Settings of the services on the Kafka side (producer, streamer-bridge), from their
// command-line flags: the cluster (--kafka_*), the topics, and the deployment's regions.
// Defined in the Kafka library, so a service that does not link it (the warmer) has none
// of these flags.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/core/config.h"
#include "common/kafka/kafka_config.h"

namespace cdnwarm::common {

struct KafkaConfig {
  // librdkafka properties: --kafka_properties file, then --kafka_bootstrap, then each
  // --kafka_property, later ones winning.
  KafkaProperties properties;
  // Topic names with the instance suffix applied.
  std::string requests_topic;
  std::string results_topic;
  std::string dead_letter_topic;
  // Whether a service creates missing topics at start-up, and with how many partitions.
  bool create_topics = true;
  int topic_partitions = 6;
  // Copies of each topic and its min.insync.replicas, for topics created at start-up and
  // the check of existing ones; 0: 3 and 2, or fewer on a cluster of fewer brokers.
  int topic_replication_factor = 0;
  int topic_min_insync_replicas = 0;
  // How long EnsureServiceTopics waits for the cluster at start-up: its first answer, then
  // the topics' creation and their leaders. No flag: tests shorten it.
  absl::Duration admin_timeout = absl::Seconds(30);
  // The deployment's regions (--regions); empty when not configured.
  std::vector<std::string> regions;
};

// The Kafka side's settings from the parsed flags; `common` gives the instance suffix and
// the replica (the default client.id). Errors name the flag and the problem.
absl::StatusOr<KafkaConfig> KafkaConfigFromFlags(const ServiceInfo& info,
                                                 const CommonConfig& common);

// The shared settings and the Kafka side's, as the producer and the streamer-bridge take them.
absl::Status KafkaServiceConfigFromFlags(const ServiceInfo& info, CommonConfig* common,
                                         KafkaConfig* kafka);

// A Kafka topic name (1..249 of [a-zA-Z0-9._-]); the error names --`flag`.
absl::Status CheckTopic(absl::string_view flag, absl::string_view topic);

}  // namespace cdnwarm::common
