#pragma once

// One region's deliveries on this replica: the tasks read from the region's partitions,
// the region's subscribers and their credit, outstanding deliveries with deadlines,
// retries with backoff, dead letters, and per-partition commit points. No Kafka and no
// gRPC in here: the consumer feeds it, streams drain it, results leave through a sink.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cdnwarm/v1/bridge.pb.h"
#include "common/core/clock.h"
#include "common/core/sync.h"
#include "streamer-bridge/partition_tracker.h"

namespace cdnwarm::bridge {

// A subscriber's stream. Send queues and returns at once; it is called under the region's
// lock and must not call back into the region.
class DeliverySink {
 public:
  virtual ~DeliverySink() = default;
  // False when the stream is ending and took nothing: the region takes the delivery back
  // (no attempt counted) and sends this subscriber nothing more.
  virtual bool Send(cdnwarm::v1::Delivery delivery) = 0;
  // The subscriber drains (StopDelivering) and holds no delivery any more: its stream can
  // end, so the subscriber knows it has read everything sent to it. Same rules as Send.
  virtual void Drained() {}
};

// Where a dead letter comes from: its requests-topic position and, for a record that was
// not a WarmTask at all, that record's own bytes (kept as they came, so nothing is lost).
struct DeadLetterSource {
  int32_t partition = 0;
  int64_t offset = 0;
  const std::string* raw_key = nullptr;    // undecodable records only
  const std::string* raw_value = nullptr;  // undecodable records only
};

// Where finished work goes. `stored` runs (from any thread, without the region's lock)
// once Kafka has the record; only then does the task's offset count as finished.
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  virtual void Result(const cdnwarm::v1::WarmResult& result, std::function<void()> stored) = 0;
  virtual void DeadLetter(const cdnwarm::v1::WarmTask& task, const cdnwarm::v1::WarmResult& last,
                          const DeadLetterSource& source, std::function<void()> stored) = 0;
  // Waits up to `timeout` for what was handed over to be stored (before the final commits).
  virtual void Flush(absl::Duration /*timeout*/) {}
};

struct RegionOptions {
  std::string region;
  std::string replica = "";  // ack ids carry it, so foreign ids are recognised
  int max_attempts = 5;
  absl::Duration min_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Minutes(5);
  absl::Duration coalesce_window;  // zero: off
  size_t buffer_limit = 10000;     // tasks held beyond which the consumer pauses
  // Deadlines, backoffs, the coalescing window and ages are read from it (tests: FakeClock).
  const common::Clock* clock = &common::Clock::Real();
};

// Ack ids are "<replica>.<region>.<incarnation>.<sequence>": opaque to subscribers, but
// the bridge can tell its own from foreign or garbage ones and route them to their region.
// The incarnation is random per Region object, so ids never repeat across a restart with
// the same replica id, or a region dropped and made again: an ack of an earlier
// incarnation's delivery is STALE, never taken for a delivery of this one.
struct AckIdParts {
  absl::string_view region;       // views into the parsed id
  absl::string_view incarnation;  // 16 hex digits
  uint64_t seq = 0;
};
// False unless `ack_id` has the shape and `replica` prefix of this bridge's ids.
bool ParseAckId(absl::string_view ack_id, absl::string_view replica, AckIdParts* parts);

class Region {
 public:
  Region(RegionOptions options, ResultSink& results);
  // Records still on their way to Kafka find the region gone when they are stored.
  ~Region();
  const std::string& name() const { return options_.region; }

  // ALREADY_EXISTS when the id has a live stream here.
  absl::Status AddSubscriber(const std::string& id, uint32_t max_outstanding,
                             absl::Duration ack_deadline, std::string peer, DeliverySink* sink);
  // Its outstanding deliveries go back to the front of the queue for the others, at once.
  // Each was a delivery attempt: one that has had max_attempts is dead-lettered instead
  // (a task that kills the warmers fetching it must not loop for ever).
  // `never_sent`: ack ids the stream queued but never wrote; those were no attempt.
  void RemoveSubscriber(const std::string& id, DeliverySink* sink,
                        const std::vector<std::string>& never_sent = {});
  // Forgets every subscriber without handing their deliveries to anyone and without
  // counting attempts: the bridge is shutting down, and what is outstanding stays
  // uncommitted for the replica that gets the partitions next.
  void DetachSubscribers();
  // The subscriber drains: no more deliveries to it; it may still ack, extend, and release
  // (ACK_OUTCOME_RELEASE) what it holds; once it holds nothing its sink hears Drained.
  // NOT_FOUND when it has no stream here.
  absl::Status StopDelivering(const std::string& id);
  size_t subscriber_count() const;

  // From the consumer. `generation` names the assignment the partition belongs to.
  void Assigned(int32_t partition);
  void Enqueue(int32_t partition, int64_t offset, cdnwarm::v1::WarmTask task);
  // A record that is not a WarmTask: FAILED and dead-lettered with its own bytes, so the
  // partition moves on and nothing is lost.
  void Reject(int32_t partition, int64_t offset, absl::string_view reason, std::string raw_key,
              std::string raw_value);
  // Forgets the partitions' tasks and deliveries (their acks become STALE).
  void Revoked(const std::vector<int32_t>& partitions);
  // A seek moved the partitions: what was buffered for them is dropped (read again from
  // the new position), their commit points start afresh, and the deliveries out stay out:
  // their acks are taken and their results stored, without holding the new commit point.
  void Repositioned(const std::vector<int32_t>& partitions);
  std::map<int32_t, int64_t> CommitPoints();
  size_t buffered() const;
  bool BufferFull() const;
  // Waits up to `timeout` (real time) for the buffer to have room; true when it has.
  bool WaitForRoom(absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_);

  std::vector<cdnwarm::v1::AckStatus> Ack(const cdnwarm::v1::AckRequest& request);
  std::vector<cdnwarm::v1::AckStatus> Extend(const cdnwarm::v1::ModifyAckDeadlineRequest& request);

  // Expired deadlines and due retries, then dispatch. Call often (every 100 ms or so).
  void Tick();

  cdnwarm::v1::RegionInfo Info() const;
  // Keys the coalescing window remembers (pruned as they age past the window).
  size_t coalescing_size() const;

 private:
  struct Task {
    int32_t partition = 0;
    int64_t offset = 0;
    uint64_t generation = 0;
    cdnwarm::v1::WarmTask task;
    uint32_t attempts = 0;           // deliveries made so far
    std::string raw_key, raw_value;  // an undecodable record's bytes (Reject)
    absl::Time not_before = absl::InfinitePast();
    cdnwarm::v1::WarmResult last;
  };
  // Made once per record and region; from there on it moves by pointer between the ready
  // queue, the delayed map and the outstanding map (a move of the Task itself swaps two
  // protobuf messages field by field: 5% of the bridge's CPU in the fan-out, 2026-12-06).
  using TaskPtr = std::unique_ptr<Task>;
  struct Subscriber {
    uint32_t max_outstanding = 0;
    absl::Duration ack_deadline;
    std::string peer;
    DeliverySink* sink = nullptr;
    absl::Time connected_at;
    uint64_t delivered = 0;
    size_t outstanding = 0;
    bool draining = false;  // StopDelivering: gets nothing more
    bool closing = false;   // its stream refused a Send: gets nothing more
  };
  struct Outstanding {
    TaskPtr task;
    std::string subscriber;
    absl::Time deadline;
    absl::Time delivered_at;
  };
  struct PartitionState {
    uint64_t generation = 0;
    PartitionTracker tracker;
  };

  void DispatchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Finishes a task without delivering it (or after its last delivery): result to Kafka,
  // offset finished once stored.
  void FinishLocked(Task& task, cdnwarm::v1::Outcome outcome, cdnwarm::v1::WarmResult result,
                    bool dead_letter) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RetryLocked(TaskPtr task, absl::Duration delay, bool count_redelivery)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Past max_attempts: dead letter and FAILED. Otherwise again after at least `min_delay`
  // and the backoff of its attempts.
  void RetryOrDeadLetterLocked(TaskPtr task, absl::Duration min_delay)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // OK with `*it` set when `ack_id` is an outstanding delivery of `subscriber`; otherwise
  // INVALID, STALE (an id of an earlier incarnation too) or WRONG_SUBSCRIBER.
  cdnwarm::v1::AckStatus FindOwnedLocked(const std::string& ack_id, const std::string& subscriber,
                                         std::map<uint64_t, Outstanding>::iterator* it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes a delivery from its subscriber's credit and from the outstanding set.
  TaskPtr TakeOutstandingLocked(std::map<uint64_t, Outstanding>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // From the Kafka producer's thread: only queues, so it never waits for the region's lock
  // (which may be held by a produce call waiting for queue room).
  void OffsetStored(int32_t partition, uint64_t generation, int64_t offset);
  void ApplyStoredLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets warms older than the coalescing window.
  void PruneCoalescingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Duration Backoff(uint32_t attempts) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The next delivery's sequence number and ack id.
  std::string NewAckId(uint64_t* seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RegionOptions options_;
  const std::string incarnation_;  // random per Region object: see AckIdParts
  const std::string ack_prefix_;   // "<replica>.<region>.<incarnation>."
  ResultSink& results_;

  mutable common::Mutex mu_;
  std::map<std::string, Subscriber> subscribers_ ABSL_GUARDED_BY(mu_);
  std::deque<TaskPtr> ready_ ABSL_GUARDED_BY(mu_);
  common::CondVar room_;  // signalled when ready_ shrinks (WaitForRoom)
  std::multimap<absl::Time, TaskPtr> delayed_ ABSL_GUARDED_BY(mu_);
  // By the sequence number of their ack ids (which carry this incarnation).
  std::map<uint64_t, Outstanding> outstanding_ ABSL_GUARDED_BY(mu_);
  // No outstanding deadline is earlier than this (lowered wherever a deadline is set), so
  // Tick, which runs at least every millisecond while records are read, scans outstanding_ only
  // when one may have expired. Was a full scan per record: 12% of the bridge's CPU in the fan-out
  // bench.
  absl::Time earliest_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  std::map<int32_t, PartitionState> partitions_ ABSL_GUARDED_BY(mu_);
  // Coalescing: when each key was last warmed, and the same in warm order for pruning.
  std::map<std::string, absl::Time> warmed_at_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<absl::Time, std::string>> warmed_order_ ABSL_GUARDED_BY(mu_);
  uint64_t next_generation_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_ack_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t redeliveries_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dead_letters_ ABSL_GUARDED_BY(mu_) = 0;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_){std::random_device{}()};

  // Lets "stored" callbacks that arrive after the region is gone find it gone.
  struct Link {
    common::Mutex mu;
    Region* self ABSL_GUARDED_BY(mu) = nullptr;
  };
  std::shared_ptr<Link> link_ = std::make_shared<Link>();

  struct StoredOffset {
    int32_t partition;
    uint64_t generation;
    int64_t offset;
  };
  common::Mutex stored_mu_;
  std::vector<StoredOffset> stored_ ABSL_GUARDED_BY(stored_mu_);
};

}  // namespace cdnwarm::bridge
