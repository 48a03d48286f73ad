#pragma once

// WarmSitemap and WarmPlaylist as jobs: each expansion runs on a bounded pool of workers
// (fetching and parsing block), feeding one BatchJob. The expansion is held back while too
// many of the job's records wait for the broker or while the client is over its rate, and
// stops when the caller goes away. A job stopped at max_urls says so in its reply and, for
// every replica, in a note on the results topic.

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "cdnwarm/v1/producer.grpc.pb.h"
#include "producer/client_limiter.h"
#include "producer/expander.h"
#include "producer/intake.h"
#include "producer/rpc_context.h"
#include "producer/worker_pool.h"

namespace cdnwarm::producer {

struct ExpansionContext {
  RpcContext& rpc;
  Intake& intake;
  ClientRateLimiter& limiter;
  // The deployment's regions (--regions), for the task options' target regions.
  const std::vector<std::string>& regions;
  size_t max_batch_in_flight;  // records waiting for the broker before the expansion waits
  int threads;
  size_t max_queued;  // expansions waiting for a worker before RESOURCE_EXHAUSTED
};

class Expansions {
 public:
  explicit Expansions(ExpansionContext context);

  // Runs `expansion` as one job for the call `rpc` and finishes `reactor`.
  using Expansion = std::function<absl::Status(UrlSink&, ExpansionSummary*)>;
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* ctx, absl::string_view rpc,
                                const cdnwarm::v1::TaskOptions& options,
                                cdnwarm::v1::WarmBatchReply* reply, Expansion expansion);

 private:
  const ExpansionContext c_;
  WorkerPool workers_;
};

}  // namespace cdnwarm::producer
