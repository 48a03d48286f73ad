#pragma once

// One job fed entry by entry (a WarmBatch stream, a sitemap, a playlist): each entry is
// validated and published; bad ones are kept as rejections by index. The reply is ready
// once every published record was acknowledged or failed.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cdnwarm/v1/producer.pb.h"
#include "common/core/sync.h"
#include "producer/intake.h"

namespace cdnwarm::producer {

// Always held by shared_ptr: publish callbacks keep it alive until they settle.
class BatchJob : public std::enable_shared_from_this<BatchJob> {
 public:
  using Done = std::function<void(absl::Status, cdnwarm::v1::WarmBatchReply)>;

  // `deadline` bounds each record's wait for the broker.
  BatchJob(Intake& intake, std::string job_id, absl::Time deadline);

  // Entry `index` (the next one): validated, canonicalised and published with `options`, on
  // the bulk lane.
  void Add(absl::string_view raw_url, const TaskTemplate& options);
  // Entry `index` (the next one) refused before validation, with its reason.
  void Reject(absl::string_view url, absl::string_view reason);

  // Records published and not yet acknowledged or failed.
  size_t outstanding() const;
  // Blocks until fewer than `limit` records are outstanding (expansion threads).
  void WaitBelow(size_t limit);
  // Calls `resume` once (at once or later, from a publisher thread) when fewer than `limit`
  // are outstanding (reactors, which may not block).
  void OnBelow(size_t limit, std::function<void()> resume);

  // No more entries; `done` runs once every record is settled. OK with the reply, unless
  // no entry was accepted and the broker failed some: then UNAVAILABLE.
  void Close(Done done);

  const std::string& job_id() const { return job_id_; }
  uint32_t entries() const;

 private:
  void Settled(uint32_t index, absl::string_view url, absl::Status status);
  void RecordRejection(uint32_t index, absl::string_view url, absl::string_view reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The completion to run (after unlocking) when the job just finished, else empty.
  std::function<void()> TakeCompletion() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Intake& intake_;
  const std::string job_id_;
  const absl::Time deadline_;

  mutable common::Mutex mu_;
  common::CondVar below_;
  uint32_t next_index_ ABSL_GUARDED_BY(mu_) = 0;
  size_t outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  cdnwarm::v1::WarmBatchReply reply_ ABSL_GUARDED_BY(mu_);
  absl::Status first_kafka_error_ ABSL_GUARDED_BY(mu_);
  size_t resume_limit_ ABSL_GUARDED_BY(mu_) = 0;
  std::function<void()> resume_ ABSL_GUARDED_BY(mu_);
  Done done_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace cdnwarm::producer
