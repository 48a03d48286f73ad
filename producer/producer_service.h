#pragma once

// cdnwarm.v1.Producer on gRPC's callback API: the unary calls (Warm, GetJob, ListJobs, ListResults)
// here; WarmBatch's reactor in batch_reactor.h, WatchJob's in watch_reactor.h, the sitemap
// and playlist jobs in expansions.h. They share the service's RpcContext (admission,
// deadlines, counting), not the service.
//
// Threads: gRPC's callback threads; a ticker (watches and paused batch streams, every
// 50 ms); the expansion and result-read workers (WorkerPool); the Kafka producer's poll
// thread (delivery reports answer calls). Locks: each class's own, none held across a
// call into another class but where its header says (see ../ARCHITECTURE.md).

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "cdnwarm/v1/producer.grpc.pb.h"
#include "common/core/bearer_auth.h"
#include "common/core/metrics.h"
#include "common/fetch/safe_fetch.h"
#include "producer/batch_reactor.h"
#include "producer/client_limiter.h"
#include "producer/expander.h"
#include "producer/expansions.h"
#include "producer/intake.h"
#include "producer/job_tracker.h"
#include "producer/result_reader.h"
#include "producer/rpc_context.h"
#include "producer/watch_reactor.h"
#include "producer/worker_pool.h"

namespace cdnwarm::producer {

struct ProducerServiceOptions {
  // Longest a record may wait for the broker when the call sets no earlier deadline.
  absl::Duration max_wait = absl::Seconds(30);
  // Records of one batch in flight to the broker before the stream stops being read.
  size_t max_batch_in_flight = 10000;
  int expansion_threads = 2;
  size_t max_queued_expansions = 8;
  common::FetchLimits fetch;
  // URLs per second one client may enqueue (0: unlimited), and its burst.
  double client_rate = 0;
  double client_burst = 0;
  // URLs one WarmBatch stream may carry.
  size_t max_batch_urls = 1'000'000;
  // The deployment's regions (--regions): a target region not among them is refused.
  // Empty: any well-formed region name is accepted.
  std::vector<std::string> regions;
  // Where ListResults reads: the Kafka settings and the results topic (empty: the RPC is
  // UNIMPLEMENTED). Reads run on their own threads, a bounded queue in front.
  common::KafkaProperties kafka;
  std::string results_topic;
  int result_threads = 2;
  size_t max_queued_result_reads = 16;
};

class ProducerService final : public cdnwarm::v1::Producer::CallbackService {
 public:
  ProducerService(ProducerServiceOptions options, Intake& intake, JobTracker& tracker,
                  const common::FetchGuard& guard, const common::BearerAuth& auth,
                  metrics::Registry& registry);
  ~ProducerService() override;
  // Stops the ticker (watches and paused batch streams): call before what it calls into
  // (the intake's publisher) goes. Idempotent; the destructor calls it.
  void StopTicker();

  // From now on new calls get UNAVAILABLE; open watches end. Calls in flight finish.
  void StartDrain();

  grpc::ServerUnaryReactor* Warm(grpc::CallbackServerContext* ctx,
                                 const cdnwarm::v1::WarmRequest* request,
                                 cdnwarm::v1::WarmReply* reply) override;
  grpc::ServerReadReactor<cdnwarm::v1::WarmRequest>* WarmBatch(
      grpc::CallbackServerContext* ctx, cdnwarm::v1::WarmBatchReply* reply) override;
  grpc::ServerUnaryReactor* WarmSitemap(grpc::CallbackServerContext* ctx,
                                        const cdnwarm::v1::WarmSitemapRequest* request,
                                        cdnwarm::v1::WarmBatchReply* reply) override;
  grpc::ServerUnaryReactor* WarmPlaylist(grpc::CallbackServerContext* ctx,
                                         const cdnwarm::v1::WarmPlaylistRequest* request,
                                         cdnwarm::v1::WarmBatchReply* reply) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* ctx,
                                   const cdnwarm::v1::GetJobRequest* request,
                                   cdnwarm::v1::Job* reply) override;
  grpc::ServerWriteReactor<cdnwarm::v1::Job>* WatchJob(
      grpc::CallbackServerContext* ctx, const cdnwarm::v1::WatchJobRequest* request) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* ctx,
                                     const cdnwarm::v1::ListJobsRequest* request,
                                     cdnwarm::v1::ListJobsReply* reply) override;
  grpc::ServerUnaryReactor* ListResults(grpc::CallbackServerContext* ctx,
                                        const cdnwarm::v1::ListResultsRequest* request,
                                        cdnwarm::v1::ListResultsReply* reply) override;

 private:
  const ProducerServiceOptions options_;
  Intake& intake_;
  JobTracker& tracker_;
  const common::FetchGuard& guard_;
  RpcContext rpc_;
  ClientRateLimiter limiter_;
  ResumeQueue paused_;
  Watches watches_;
  Expansions expansions_;
  const ResultReader results_;
  WorkerPool result_reads_;
  // Ticks the watches and the paused batch streams.
  std::atomic<bool> stop_ticker_{false};
  std::thread ticker_;
};

}  // namespace cdnwarm::producer
