#pragma once

// The deployment's regions (--regions), known before any warmer subscribes.
//
// At start-up each region's consumer group gets a start position on every partition it
// has none for, so a region whose warmers start later still gets every task accepted from
// then on (no "latest" at the first Subscribe, which skipped them). The position is the
// first task enqueued at or after a minute before the anchor (the start with
// --auto_offset_reset=earliest): two replicas that start together both anchor before
// either's tasks, and a task is never skipped, at worst warmed twice.
//
// A background thread keeps each group's committed offsets and lag, so ListSubscriptions
// shows a region with no subscriber here without calling Kafka on the gRPC thread.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cdnwarm/v1/bridge.pb.h"
#include "common/core/sync.h"
#include "common/kafka/kafka_config.h"
#include "common/kafka/kafka_handles.h"

namespace cdnwarm::bridge {

struct KnownRegionsOptions {
  common::KafkaProperties kafka;
  std::string topic;                 // the requests topic
  std::vector<std::string> regions;  // empty: any region is accepted, none anchored
  // Region -> its consumer group.
  std::function<std::string(const std::string&)> group_of;
  bool earliest = false;  // --auto_offset_reset=earliest
  // How often the committed offsets and lag of every region are read.
  absl::Duration refresh = absl::Seconds(5);
  absl::Duration timeout = absl::Seconds(30);
};

class KnownRegions {
 public:
  // Anchors every region's group, then starts the refresh thread. Errors name the region
  // and what Kafka said.
  static absl::StatusOr<std::unique_ptr<KnownRegions>> Start(KnownRegionsOptions options);
  // Stop(), then waits for the refresh thread.
  ~KnownRegions();

  // Asks the refresh thread to end, without waiting: a read from Kafka under way finishes
  // first (up to its 5 s timeout when Kafka is down), so SIGTERM asks early, at the drain.
  void Stop();

  const std::vector<std::string>& regions() const { return options_.regions; }
  // INVALID_ARGUMENT naming `region` when a list is configured and it is not on it.
  absl::Status Check(const std::string& region) const;
  // The group's committed offset, the log end and the lag of every partition, as of the
  // last refresh; empty before the first.
  std::vector<cdnwarm::v1::PartitionInfo> Positions(const std::string& region) const;

 private:
  explicit KnownRegions(KnownRegionsOptions options) : options_(std::move(options)) {}
  // The group's committed offset of every partition, -1 where none; through `rk`, the
  // region's client.
  absl::StatusOr<std::map<int32_t, int64_t>> Committed(rd_kafka_t* rk, int partitions) const;
  // The partition's first and next offsets, through `rk`.
  absl::StatusOr<std::pair<int64_t, int64_t>> Watermarks(rd_kafka_t* rk, int32_t partition) const;
  absl::Status Anchor(const std::string& region, int partitions);
  absl::StatusOr<std::vector<cdnwarm::v1::PartitionInfo>> Read(const std::string& region,
                                                               int partitions);
  void Run(int partitions);
  bool stopped() const;

  const KnownRegionsOptions options_;
  std::map<std::string, common::KafkaPtr> clients_;  // region -> a client in its group
  mutable common::Mutex mu_;
  common::CondVar wake_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::vector<cdnwarm::v1::PartitionInfo>> positions_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace cdnwarm::bridge
