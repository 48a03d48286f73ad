#pragma once

// Writes WarmTasks to the requests topic and reports, per record, whether the broker
// acknowledged it. The seam between the RPC layer and Kafka.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cdnwarm/v1/common.pb.h"
#include "common/core/clock.h"
#include "common/core/metrics.h"
#include "common/core/sync.h"
#include "common/kafka/kafka_config.h"
#include "common/kafka/kafka_handles.h"
#include "common/kafka/kafka_producer.h"

namespace cdnwarm::producer {

struct Published {
  int32_t partition = 0;
  int64_t offset = 0;
};

// Called exactly once per Publish, from a publisher thread: the record's position once the
// broker acknowledged it, UNAVAILABLE when it did not within the deadline or failed,
// RESOURCE_EXHAUSTED when the local queue is full.
using PublishCallback = std::function<void(absl::StatusOr<Published>)>;

class TaskPublisher {
 public:
  virtual ~TaskPublisher() = default;
  // Record key is the task's URL, value the serialised task.
  virtual void Publish(const cdnwarm::v1::WarmTask& task, absl::Time deadline,
                       PublishCallback done) = 0;
  // A note about a job (a WarmResult with no task and no region) on the results topic,
  // keyed by the job id like the job's results.
  virtual void PublishNote(const cdnwarm::v1::WarmResult& note, absl::Time deadline,
                           PublishCallback done) = 0;
  // Waits for every queued record to be delivered or to fail.
  virtual absl::Status Flush(absl::Duration timeout) = 0;
};

struct KafkaPublisherOptions {
  common::KafkaProperties kafka;
  std::string topic;
  // Where PublishNote writes: the results topic.
  std::string notes_topic;
  // Longest a record may wait for the broker before it fails (message.timeout.ms).
  absl::Duration delivery_timeout = absl::Seconds(30);
  int max_queued_records = 100000;
  // Reports broker reachability (true after a delivery, false when all brokers are down).
  std::function<void(bool)> on_health = nullptr;
  // Where "now" comes from (tests: FakeClock); waits stay on the real clock.
  const common::Clock* clock = &common::Clock::Real();
};

// The producer settings every task record is written with: `options.kafka` with acks=all,
// idempotence, the delivery timeout and queue bound, and linger.ms 2 unless set. The
// benchmarks' bare baseline uses the same.
common::KafkaProperties PublisherProperties(const KafkaPublisherOptions& options);

// librdkafka producer with acks=all and idempotence, polled on its own thread.
class KafkaTaskPublisher final : public TaskPublisher {
 public:
  static absl::StatusOr<std::unique_ptr<KafkaTaskPublisher>> Create(KafkaPublisherOptions options,
                                                                    metrics::Registry& registry);
  ~KafkaTaskPublisher() override;

  void Publish(const cdnwarm::v1::WarmTask& task, absl::Time deadline,
               PublishCallback done) override;
  void PublishNote(const cdnwarm::v1::WarmResult& note, absl::Time deadline,
                   PublishCallback done) override;
  absl::Status Flush(absl::Duration timeout) override;

 private:
  struct Pending {
    PublishCallback done;
    absl::Time started;
    absl::Time deadline;
  };
  struct Metrics;

  KafkaTaskPublisher(KafkaPublisherOptions options, metrics::Registry& registry);
  void PublishRecord(const std::string& topic, const std::string& key, const std::string& value,
                     absl::Time deadline, PublishCallback done);
  void Delivered(const rd_kafka_message_t& m);
  void OnError(rd_kafka_resp_err_t code, const std::string& reason);
  // The poll thread's, after each poll: fails what passed its deadline.
  void Polled(common::KafkaProducer& kafka);
  void ExpireOverdue();
  // Removes and returns a pending record's callback, or an empty one if already finished.
  PublishCallback Take(uint64_t id, absl::Time* started);

  const KafkaPublisherOptions options_;
  std::unique_ptr<Metrics> metrics_;
  common::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  // Flat and B-tree containers: a record's bookkeeping costs no allocation of its own (a
  // std::map and a std::set allocated two nodes a record).
  absl::flat_hash_map<uint64_t, Pending> pending_ ABSL_GUARDED_BY(mu_);
  // (deadline, id): unique keys, so finishing one record is one lookup even when a whole
  // batch shares a deadline.
  absl::btree_set<std::pair<absl::Time, uint64_t>> by_deadline_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Last: its poll thread calls back into the members above, so it goes first.
  std::unique_ptr<common::KafkaProducer> kafka_;
};

}  // namespace cdnwarm::producer
