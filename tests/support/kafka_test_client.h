#pragma once

// Kafka helpers for tests: read records back from a topic and write records to one,
// through the real broker the `kafka` CTest fixture starts.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/kafka/kafka_config.h"

namespace cdnwarm::testing {

struct Record {
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Bootstrap servers of the test broker ($CDNWARM_KAFKA_BOOTSTRAP).
std::string TestBootstrap();
common::KafkaProperties TestKafka();

// Every record of `topic` from the beginning up to the end offsets as of the call.
absl::StatusOr<std::vector<Record>> ReadTopic(const std::string& topic);

// Produces `records` (key, value; partition chosen by key) and waits for the broker.
absl::Status ProduceRecords(const std::string& topic,
                            const std::vector<std::pair<std::string, std::string>>& records);

}  // namespace cdnwarm::testing
