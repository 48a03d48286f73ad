#pragma once

// Per-region progress of jobs, fed with the tasks of the requests topic and the results of
// the results topic. Every producer replica reads both topics, so any replica answers for
// any job, and a restarted one rebuilds its state from Kafka. Bounded: jobs older than the
// window, and the oldest jobs beyond max_jobs or max_tasks, are evicted.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "cdnwarm/v1/common.pb.h"
#include "cdnwarm/v1/producer.pb.h"
#include "common/core/clock.h"
#include "common/core/sync.h"

namespace cdnwarm::producer {

struct JobTrackerOptions {
  // Regions always listed in a job, even before their first result.
  std::vector<std::string> regions;
  absl::Duration window = absl::Hours(24);
  size_t max_jobs = 10000;
  size_t max_tasks = 5'000'000;  // summed over jobs
  // Where "now" comes from (tests: FakeClock); waits stay on the real clock.
  const common::Clock* clock = &common::Clock::Real();
};

class JobTracker {
 public:
  explicit JobTracker(JobTrackerOptions options);

  // A task of a job exists (idempotent: the same index counts once).
  void OnTask(const std::string& job_id, uint32_t index, absl::Time enqueued_at);
  // A region finished a task. The first result per (region, task) counts; redeliveries'
  // duplicates do not. A note (no task, no region) carries the job's truncation.
  void OnResult(const cdnwarm::v1::WarmResult& result);
  // A task record as the job feed reads it off the requests topic.
  struct TaskRecord {
    std::string job_id;
    uint32_t index = 0;
    absl::Time enqueued_at;
  };
  // What the job feed read in one poll: the same as OnTask for each task, then OnResult for
  // each result, under one lock, and each changed job's watchers are told once. Tasks
  // before results: the two come from different topics, whose relative order Kafka does
  // not define anyway; within each the order is kept.
  void OnRecords(absl::Span<const TaskRecord> tasks,
                 absl::Span<const cdnwarm::v1::WarmResult> results);
  // Drops jobs older than the window, as of `now`.
  void Expire(absl::Time now);

  // NOT_FOUND for a job never seen, evicted, or older than the window.
  absl::StatusOr<cdnwarm::v1::Job> Get(const std::string& job_id) const;
  // Up to `limit` jobs, newest first, after the job `after` (empty: from the newest), and
  // whether older ones follow. INVALID_ARGUMENT naming `page_token` when `after` is not
  // known (any more).
  absl::StatusOr<std::vector<cdnwarm::v1::Job>> List(const std::string& after, size_t limit,
                                                     bool* more) const;
  // When the job was created, without building its progress; NOT_FOUND as Get.
  absl::StatusOr<absl::Time> CreatedAt(const std::string& job_id) const;

  // Calls `on_change` (from the thread feeding the tracker; keep it short, never call back
  // into the tracker) whenever the job's counts change. Returns a handle for Unwatch.
  uint64_t Watch(const std::string& job_id, std::function<void()> on_change);
  void Unwatch(uint64_t handle);

  size_t job_count() const;

 private:
  struct Job {
    absl::Time created_at = absl::InfiniteFuture();
    absl::Time updated_at = absl::InfinitePast();
    // Flat tables: one more task or result costs no allocation of its own.
    using Finished = absl::flat_hash_map<uint32_t, cdnwarm::v1::Outcome>;
    absl::flat_hash_set<uint32_t> tasks;
    // region -> task index -> outcome (first result wins)
    std::map<std::string, Finished> results;
    std::map<std::string, uint64_t> verified_hits;
    std::optional<cdnwarm::v1::Truncation> truncated;  // from the producer's job note
  };

  Job* FindOrCreate(const std::string& job_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // OnTask's and OnResult's work: true when it changed the counts of a job (its id in
  // *changed for a result).
  bool AddTaskLocked(const std::string& job_id, uint32_t index, absl::Time enqueued_at)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool AddResultLocked(const cdnwarm::v1::WarmResult& result, std::string* changed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The job if its tasks have been seen, else null.
  const Job* Known(const std::string& job_id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  cdnwarm::v1::Job ToProto(const std::string& job_id, const Job& job) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status NotKnown(const std::string& job_id) const;
  void EvictOverLimits() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Evict(const std::string& job_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<std::function<void()>> WatchersOf(const std::string& job_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  size_t JobSize(const Job& job) const;

  const JobTrackerOptions options_;
  mutable common::Mutex mu_;
  std::unordered_map<std::string, Job> jobs_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> order_ ABSL_GUARDED_BY(mu_);  // creation order, for eviction
  size_t tasks_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_watch_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, std::pair<std::string, std::function<void()>>> watchers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cdnwarm::producer
