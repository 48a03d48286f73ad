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
// Fails with the broker's reason (naming the topic) or UNAVAILABLE when the cluster
// does not answer within `timeout`.
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

struct KafkaConfig;
// The requests, results and dead-letter topics of `config`, when it says to create them.
absl::Status EnsureServiceTopics(const KafkaConfig& config);

}  // namespace cdnwarm::common
