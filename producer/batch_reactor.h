#pragma once

// WarmBatch: one client stream of URLs into one BatchJob. Reading stops while too many of
// the job's records wait for the broker, or while the client is over its rate (the stream
// then waits in the ResumeQueue), so a fast client cannot fill the producer's memory.

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "cdnwarm/v1/producer.grpc.pb.h"
#include "common/core/sync.h"
#include "producer/batch_job.h"
#include "producer/client_limiter.h"
#include "producer/intake.h"
#include "producer/rpc_context.h"
#include "producer/task_factory.h"

namespace cdnwarm::producer {

// Streams paused for their client's rate. Each resumes once its time has passed (Tick,
// from the service's ticker), or at once while draining.
class ResumeQueue {
 public:
  explicit ResumeQueue(const RpcContext& rpc) : rpc_(rpc) {}
  void ResumeAt(absl::Time at, std::function<void()> resume);
  // Runs what is due as of `now`, without the lock (StartRead may react inline).
  void Tick(absl::Time now);

 private:
  const RpcContext& rpc_;
  common::Mutex mu_;
  std::vector<std::pair<absl::Time, std::function<void()>>> paused_ ABSL_GUARDED_BY(mu_);
};

// What a WarmBatch stream needs from the service.
struct BatchContext {
  RpcContext& rpc;
  Intake& intake;
  ClientRateLimiter& limiter;
  ResumeQueue& paused;
  // The deployment's regions (--regions), for the task options' target regions.
  const std::vector<std::string>& regions;
  size_t max_batch_urls;       // per stream
  size_t max_batch_in_flight;  // records waiting for the broker before reading stops
};

// Owned by gRPC from WarmBatch's return until OnDone, which deletes it.
class BatchReactor final : public grpc::ServerReadReactor<cdnwarm::v1::WarmRequest> {
 public:
  BatchReactor(BatchContext context, grpc::CallbackServerContext* ctx,
               cdnwarm::v1::WarmBatchReply* reply);

  void OnReadDone(bool ok) override;
  void OnDone() override { delete this; }

 private:
  void Done(const absl::Status& status, cdnwarm::v1::WarmBatchReply reply);

  const BatchContext c_;
  cdnwarm::v1::WarmBatchReply* reply_;
  const std::string client_;
  std::shared_ptr<BatchJob> job_;
  cdnwarm::v1::WarmRequest request_;
  TaskTemplate first_options_;
  bool have_first_ = false;
};

}  // namespace cdnwarm::producer
