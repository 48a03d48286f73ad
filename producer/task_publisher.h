#pragma once

// Writes WarmTasks to the requests topic and reports, per record, whether the broker
// acknowledged it. The seam between the RPC layer and Kafka.

#include <atomic>
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

// Which of the publisher's two Kafka producers writes a task. Both write the same topic with
// the same guarantees (acks=all, idempotence, the delivery timeout); they differ in how
// records are gathered into batches. A unary Warm's caller waits for its one record: it
// lingers 2 ms, and the calls that arrive while a request is out go in the next one. A
// WarmBatch stream or an expansion keeps thousands of records waiting for the broker, which
// stores fewer, larger batches faster when they linger longer (10 ms); on one producer, that
// linger would be every unary call's too.
enum class Lane { kInteractive, kBulk };

class TaskPublisher {
 public:
  virtual ~TaskPublisher() = default;
  // Record key is the task's URL, value the serialised task.
  virtual void Publish(const cdnwarm::v1::WarmTask& task, Lane lane, absl::Time deadline,
                       PublishCallback done) = 0;
  // A note about a job (a WarmResult with no task and no region) on the results topic,
  // keyed by the job id like the job's results; on the interactive lane.
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
  // Per lane (queue.buffering.max.messages of each of the two producers).
  int max_queued_records = 100000;
  // The bulk lane's linger.ms. The interactive lane's is `kafka`'s linger.ms, 2 ms unless set.
  absl::Duration bulk_linger = absl::Milliseconds(10);
  // Reports Kafka's reachability when it changes: false once a lane's records have waited
  // 1 s on brokers that are all down; true at a delivery, or when no record waits.
  std::function<void(bool)> on_health = nullptr;
  // Where "now" comes from (tests: FakeClock); waits stay on the real clock.
  const common::Clock* clock = &common::Clock::Real();
};

// The settings a lane's task records are written with: `options.kafka` with acks=all,
// idempotence, the delivery timeout and queue bound. Interactive: linger.ms 2 and one
// request in flight, unless `kafka` sets them. Bulk: linger.ms `bulk_linger`. The
// benchmarks' bare baseline uses the bulk lane's.
common::KafkaProperties PublisherProperties(const KafkaPublisherOptions& options, Lane lane);

// Two librdkafka producers (one per Lane) with acks=all and idempotence, each polled on its
// own thread; one record bookkeeping, so a deadline or a shutdown answers both alike.
class KafkaTaskPublisher final : public TaskPublisher {
 public:
  static absl::StatusOr<std::unique_ptr<KafkaTaskPublisher>> Create(KafkaPublisherOptions options,
                                                                    metrics::Registry& registry);
  ~KafkaTaskPublisher() override;

  void Publish(const cdnwarm::v1::WarmTask& task, Lane lane, absl::Time deadline,
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
  void PublishRecord(Lane lane, const std::string& topic, const std::string& key,
                     const std::string& value, absl::Time deadline, PublishCallback done);
  void Delivered(Lane lane, const rd_kafka_message_t& m);
  void OnError(Lane lane, rd_kafka_resp_err_t code, const std::string& reason);
  // Tells options_.on_health when reachability changes, not at every record.
  void ReportHealth(bool up) ABSL_LOCKS_EXCLUDED(health_mu_);
  // A lane's poll thread's, after each poll: fails what passed its deadline, and works out
  // whether the lane's records wait on brokers that are all down.
  void Polled(Lane lane, common::KafkaProducer& kafka);
  // Reports unreachable while either lane is.
  void UpdateHealth();
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
  // The last reachability given to on_health (-1: none yet, 0: down, 1: up). Written
  // under health_mu_, which the call is made under too, so the last call and this agree;
  // read without it by each delivery.
  common::Mutex health_mu_;
  std::atomic<int> reported_{-1};
  // By Lane. "All brokers down" alone does not make the producer unready: the brokers
  // close an idle lane's connections (connections.max.idle.ms) and librdkafka reports that
  // too. A lane is unreachable when it heard "all brokers down", with no delivery since,
  // and has had records waiting for kUnreachableAfter. It is reachable again at a delivery
  // or once no record waits (they were delivered or timed out): an unready replica gets no
  // traffic, so it must not wait for a delivery to be made ready.
  struct LaneHealth {
    std::atomic<bool> brokers_down{false};
    std::atomic<bool> unreachable{false};
    std::atomic<int64_t> depth{0};  // records the client holds, as of its last poll
    absl::Time queued_since = absl::InfiniteFuture();  // the poll thread's
  };
  LaneHealth lanes_[2];
  // Last: their poll threads call back into the members above, so they go first. By Lane.
  std::unique_ptr<common::KafkaProducer> kafka_[2];
};

}  // namespace cdnwarm::producer
