#pragma once

// WatchJob: a job's state, sent first and then whenever it changed (at most once per
// min_interval, one write at a time), until the job is done. Watches are polled by the
// service's ticker (Watches::Tick).
//
// Lifetime. The Watches registry owns each watch from WatchJob until gRPC's OnDone, which
// takes it out; the object goes when OnDone returns. JobTracker's change callback holds
// only a weak pointer.
//
// Locking. Watches::mu_ is held around no call into a watch; the writer's lock (the
// QueuedWriter's) is innermost. Tick reads the tracker (JobTracker::mu_) under no lock.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "cdnwarm/v1/producer.grpc.pb.h"
#include "common/core/queued_writer.h"
#include "common/core/sync.h"
#include "producer/job_tracker.h"
#include "producer/rpc_context.h"

namespace cdnwarm::producer {

class WatchReactor;

// The open watches.
class Watches {
 public:
  void Add(std::shared_ptr<WatchReactor> watch);
  // Takes `watch` out, returning its owner (the caller may hold the last reference).
  std::shared_ptr<WatchReactor> Remove(const WatchReactor* watch);
  // Ticks every open watch, without the lock.
  void Tick(absl::Time now);

 private:
  common::Mutex mu_;
  std::map<const WatchReactor*, std::shared_ptr<WatchReactor>> open_ ABSL_GUARDED_BY(mu_);
};

class WatchReactor final : public common::QueuedWriter<cdnwarm::v1::Job> {
 public:
  WatchReactor(RpcContext& rpc, JobTracker& tracker, Watches& watches, std::string job_id,
               absl::Duration min_interval);

  // Listens to the job's changes and starts writing. `self` is this watch's owner.
  void Start(const std::shared_ptr<WatchReactor>& self);
  // From the ticker thread: sends the job's state when it changed and the last write is
  // done (a watcher that reads slowly gets the latest state, not a backlog). The write of
  // a done job is the last.
  void Tick(absl::Time now);
  void OnDone() override;

 private:
  void OnEnd(const grpc::Status& status) override { rpc_.Count("WatchJob", status); }

  RpcContext& rpc_;
  JobTracker& tracker_;
  Watches& watches_;
  const std::string job_id_;
  const absl::Duration min_interval_;
  uint64_t watch_ = 0;
  std::atomic<bool> changed_{true};  // the first tick sends the current state
  // Only the ticker thread reads and writes it.
  absl::Time next_send_ = absl::InfinitePast();
};

}  // namespace cdnwarm::producer
