#pragma once

// Reads one job's results back from the results topic, for ListResults. A job's results
// share one partition (the bridges key them by job id); the reader scans that partition
// from the job's creation on, one page at a time, and holds one page in memory.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cdnwarm/v1/producer.pb.h"
#include "common/kafka/kafka_config.h"

namespace cdnwarm::producer {

struct ResultQuery {
  std::string job_id;
  absl::Time created_at;  // where the scan starts (less a minute of producer clock skew)
  std::string region;     // empty: every region
  std::vector<cdnwarm::v1::Outcome> outcomes;  // empty: every outcome
  size_t page_size = 100;
  int64_t from_offset = -1;  // a page token's offset; -1: from created_at
  absl::Time deadline;       // a short page with a token comes back at the deadline
};

class ResultReader {
 public:
  // `kafka` as the bridges write results with: its `partitioner` (default
  // consistent_random) finds a job's partition.
  ResultReader(common::KafkaProperties kafka, std::string topic);

  // One page of `query`'s results. UNAVAILABLE when Kafka does not answer in time.
  absl::StatusOr<cdnwarm::v1::ListResultsReply> Read(const ResultQuery& query) const;

  // The partition `key` is written to among `partitions`, by `partitioner`;
  // INVALID_ARGUMENT for a partitioner this reader does not know.
  static absl::StatusOr<int32_t> PartitionOf(const std::string& partitioner, const std::string& key,
                                             int32_t partitions);

  // "<offset>" as a page token, and back (INVALID_ARGUMENT naming page_token).
  static std::string Token(int64_t offset);
  static absl::StatusOr<int64_t> ParseToken(const std::string& token);

 private:
  const common::KafkaProperties kafka_;
  const std::string topic_;
};

}  // namespace cdnwarm::producer
