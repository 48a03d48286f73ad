#pragma once

// cdnwarm.v1.Producer on gRPC's callback API.

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "cdnwarm/v1/producer.grpc.pb.h"
#include "common/bearer_auth.h"
#include "common/metrics.h"
#include "common/safe_fetch.h"
#include "producer/client_limiter.h"
#include "producer/expander.h"
#include "producer/intake.h"
#include "producer/job_tracker.h"
#include "producer/result_reader.h"
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
  grpc::ServerUnaryReactor* ListResults(grpc::CallbackServerContext* ctx,
                                        const cdnwarm::v1::ListResultsRequest* request,
                                        cdnwarm::v1::ListResultsReply* reply) override;

 private:
  class BatchReactor;
  class WatchReactor;
  friend class BatchReactor;
  friend class WatchReactor;

  // Authentication and drain state, checked first by every RPC.
  absl::Status Admit(const grpc::CallbackServerContext& ctx) const;
  absl::Time RecordDeadline(const grpc::CallbackServerContext& ctx) const;
  void Count(absl::string_view rpc, const grpc::Status& status);
  // Finishes a unary call and counts it.
  grpc::ServerUnaryReactor* FinishUnary(grpc::ServerUnaryReactor* reactor, absl::string_view rpc,
                                        const absl::Status& status);
  // Runs an expansion (sitemap, playlist) on the worker pool as one job.
  using Expansion = std::function<absl::Status(UrlSink&, ExpansionSummary*)>;
  grpc::ServerUnaryReactor* Expand(grpc::CallbackServerContext* ctx, absl::string_view rpc,
                                   const cdnwarm::v1::TaskOptions& options,
                                   cdnwarm::v1::WarmBatchReply* reply, Expansion expansion);
  void TickWatches();
  // Runs `resume` once `at` has passed (from the ticker), or at once while draining.
  void ResumeAt(absl::Time at, std::function<void()> resume);
  void TickPaused(absl::Time now);

  const ProducerServiceOptions options_;
  Intake& intake_;
  JobTracker& tracker_;
  const common::FetchGuard& guard_;
  const common::BearerAuth& auth_;
  metrics::Family<metrics::Counter>& rpcs_;
  std::atomic<bool> draining_{false};
  WorkerPool expansions_;
  ClientRateLimiter limiter_;
  const ResultReader results_;
  WorkerPool result_reads_;

  std::mutex paused_mu_;
  std::vector<std::pair<absl::Time, std::function<void()>>> paused_ ABSL_GUARDED_BY(paused_mu_);

  std::mutex watches_mu_;
  std::set<std::shared_ptr<WatchReactor>> watches_ ABSL_GUARDED_BY(watches_mu_);
  std::atomic<bool> stop_ticker_{false};
  std::thread ticker_;
};

}  // namespace cdnwarm::producer
