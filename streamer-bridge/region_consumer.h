#pragma once

// Reads the requests topic for one region's consumer group into its Region, on its own
// thread: cooperative rebalancing, manual commits of the region's commit points (every
// second, on revoke, on close), flow control by buffer size, and seeks.

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cdnwarm/v1/bridge.pb.h"
#include "cdnwarm/v1/bridge_control.pb.h"
#include "common/core/metrics.h"
#include "common/core/sync.h"
#include "common/kafka/kafka_config.h"
#include "common/kafka/kafka_handles.h"
#include "streamer-bridge/region.h"

namespace cdnwarm::bridge {

struct ConsumerOptions {
  common::KafkaProperties kafka;
  std::string topic;
  std::string group;
  // Where a group with no committed offset starts: "latest" (a new region does not replay
  // history; Seek(earliest) does) or "earliest".
  std::string auto_offset_reset = "latest";
  absl::Duration commit_interval = absl::Seconds(1);
  size_t buffer_limit = 10000;
  // How long the region's buffer may stay full before its partitions are paused. Until
  // then the consumer only stops polling (see Run).
  absl::Duration pause_after = absl::Seconds(1);
  // How long one commit may wait for Kafka, and the close (final commits, leaving the
  // group) in all. Past them the commit is given up: that work stays uncommitted and is
  // delivered again by the group's next member (at-least-once).
  absl::Duration commit_timeout = absl::Seconds(5);
  absl::Duration close_timeout = absl::Seconds(5);
};

// The consumer settings of a region's group: `options.kafka` with the group, manual commits
// and offset stores, the offset reset and cooperative-sticky assignment. The benchmarks'
// bare consumer uses the same.
common::KafkaProperties ConsumerProperties(const ConsumerOptions& options);

class RegionConsumer {
 public:
  // Joins the group and starts reading. `region` must outlive the consumer.
  static absl::StatusOr<std::unique_ptr<RegionConsumer>> Start(ConsumerOptions options,
                                                               Region& region,
                                                               metrics::Registry& registry);
  // Commits what is finished and leaves the group, within `close_timeout`.
  ~RegionConsumer();

  // Partitions assigned here with committed and end offsets (cached watermarks).
  std::vector<cdnwarm::v1::PartitionInfo> Partitions() const;
  // Moves this replica's partitions of the group, on the consumer thread: what moved (new
  // committed offsets), and what it holds but did not move, with the reason. Gives up
  // waiting at `deadline` (the seek may still complete later; its answer is then dropped).
  cdnwarm::v1::SeekReport Seek(const cdnwarm::v1::SeekRequest& r, absl::Time deadline);
  bool assigned_any() const;

 private:
  struct Metrics;
  RegionConsumer(ConsumerOptions options, Region& region, metrics::Registry& registry);
  void Run();
  // Polls one record (waiting up to `timeout_ms`) into the region; false when the poll
  // returned nothing.
  bool Consume(int timeout_ms);
  // Commits the region's commit points that changed (of `only`, when given), waiting for
  // Kafka's answer (revoke, close).
  void Commit(const std::vector<int32_t>* only);
  // The periodic commit: the same, without waiting. Its answer is served on the consumer
  // thread (ServeCommits); one at a time. A synchronous commit here waited for the broker
  // (up to 135 ms measured under load) with nothing read, a latency spike every second.
  void CommitAsync();
  void ServeCommits();
  static void OnAsyncCommitted(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t* offsets, void* opaque);
  // The changed commit points (of `only`, when given), as a list to commit.
  common::KafkaTopicPartitionListPtr ChangedCommitPoints(const std::vector<int32_t>* only);
  // Commits `list`, counts it, and records the offsets as committed; false on failure
  // (logged) or an empty list. Waits up to `commit_timeout`, or to the close's deadline.
  bool CommitOffsets(const rd_kafka_topic_partition_list_t* list);
  void Rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions);
  void AnchorStartOffsets(rd_kafka_topic_partition_list_t* partitions);
  static void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* partitions, void* opaque);
  // False when the assignment could not be read (nothing changed).
  bool SetPaused(bool paused);
  void DoSeek();

  const ConsumerOptions options_;
  Region& region_;
  std::unique_ptr<Metrics> metrics_;
  common::KafkaPtr rk_;
  // The periodic commits' answers (consumer thread only; gone before the client closes).
  common::KafkaQueuePtr commit_queue_;
  bool commit_in_flight_ = false;  // consumer thread only
  std::atomic<bool> stop_{false};
  std::thread thread_;
  // Set by the destructor once the consumer thread is gone: the deadline of the close,
  // whose commits (the revoke callback's too) run on the destructor's thread.
  std::optional<absl::Time> close_deadline_;

  mutable common::Mutex mu_;
  std::map<int32_t, int64_t> committed_ ABSL_GUARDED_BY(mu_);
  std::vector<int32_t> assigned_ ABSL_GUARDED_BY(mu_);
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  // A seek handed to the consumer thread, and its answer, each with the number of the
  // seek it belongs to (an answer that comes after its caller gave up is dropped).
  uint64_t seek_number_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<std::pair<uint64_t, cdnwarm::v1::SeekRequest>> seek_ ABSL_GUARDED_BY(mu_);
  std::optional<std::pair<uint64_t, cdnwarm::v1::SeekReport>> seek_result_ ABSL_GUARDED_BY(mu_);
  common::CondVar seek_cv_;
};

}  // namespace cdnwarm::bridge
