#pragma once

// Topic administration through librdkafka's Admin API: services and tests make sure the
// topics they use exist, with the partition counts and settings they expect.

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/kafka/kafka_config.h"
#include "librdkafka/rdkafka.h"

namespace cdnwarm::common {

struct TopicSpec {
  std::string name;
  int partitions = 6;
  // -1 uses the broker's default.replication.factor.
  int replication_factor = -1;
  // Topic-level settings, e.g. {"retention.ms", "604800000"}.
  std::vector<std::pair<std::string, std::string>> config = {};
};

// Creates every topic that does not exist yet; existing topics are left as they are.
// Fails with the broker's reason, naming the topic (FAILED_PRECONDITION), or UNAVAILABLE
// when the cluster does not answer within `timeout`.
absl::Status EnsureTopics(const KafkaProperties& props, const std::vector<TopicSpec>& topics,
                          absl::Duration timeout);

// Members of a consumer group (0 for an empty or unknown group), asked of the cluster
// through `rk`'s Admin API. UNAVAILABLE when the cluster does not answer within `timeout`.
absl::StatusOr<size_t> GroupMemberCount(rd_kafka_t* rk, const std::string& group,
                                        absl::Duration timeout);

// The partition count of `topic`, from `rk`'s metadata. NOT_FOUND for a topic the cluster
// does not have.
absl::StatusOr<int> TopicPartitionCount(rd_kafka_t* rk, const std::string& topic,
                                        absl::Duration timeout);

// How many copies a topic keeps and how many must have a write before acks=all answers.
struct Durability {
  int replication_factor = 0;
  int min_insync_replicas = 0;
};

// The durability to create topics with: what was configured, or where a setting is 0, the
// production values (3 and 2) capped to what a cluster of `brokers` can hold. Errors name
// the flag when min.insync.replicas is above the replication factor.
absl::StatusOr<Durability> ResolveDurability(Durability configured, int brokers);

struct WeakSetting {
  std::string topic;
  std::string setting;  // e.g. "replication.factor 1 < 3"
};
// The settings of `topics` that are weaker than `want` (none: empty), asked in one
// metadata lookup per topic and one DescribeConfigs. NOT_FOUND for a missing topic,
// UNAVAILABLE when the cluster does not answer within `timeout`.
absl::StatusOr<std::vector<WeakSetting>> WeakerSettings(rd_kafka_t* rk,
                                                        const std::vector<std::string>& topics,
                                                        Durability want, absl::Duration timeout);

struct KafkaConfig;
// The requests, results and dead-letter topics of `config` and `extra` (the bridge's
// control topic): created when `config` says to create topics, with the durability it
// asks for (ResolveDurability); then every one checked, and a warning naming the topic and
// the setting for each that is weaker than that. UNAVAILABLE, naming the bootstrap, when the
// cluster does not answer within `config.admin_timeout`.
absl::Status EnsureServiceTopics(const KafkaConfig& config, std::vector<TopicSpec> extra = {});

}  // namespace cdnwarm::common
