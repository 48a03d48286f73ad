#include "producer/producer_service.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/core/grpc_status.h"
#include "common/core/log.h"
#include "common/core/naming.h"
#include "common/core/proto_time.h"
#include "common/core/queued_writer.h"
#include "common/core/sync.h"
#include "producer/batch_job.h"

namespace cdnwarm::producer {
namespace {

constexpr absl::Duration kTick = absl::Milliseconds(50);

}  // namespace

ProducerService::ProducerService(ProducerServiceOptions options, Intake& intake,
                                 JobTracker& tracker, const common::FetchGuard& guard,
                                 const common::BearerAuth& auth, metrics::Registry& registry)
    : options_(std::move(options)),
      intake_(intake),
      tracker_(tracker),
      guard_(guard),
      rpc_(auth, options_.max_wait, registry),
      limiter_(options_.client_rate, options_.client_burst),
      paused_(rpc_),
      expansions_(ExpansionContext{.rpc = rpc_,
                                   .intake = intake_,
                                   .limiter = limiter_,
                                   .regions = options_.regions,
                                   .max_batch_in_flight = options_.max_batch_in_flight,
                                   .threads = options_.expansion_threads,
                                   .max_queued = options_.max_queued_expansions}),
      results_(options_.kafka, options_.results_topic),
      result_reads_(options_.result_threads, options_.max_queued_result_reads) {
  ticker_ = std::thread([this] {
    while (!stop_ticker_) {
      const absl::Time now = rpc_.clock().Now();
      watches_.Tick(now);
      paused_.Tick(now);
      absl::SleepFor(kTick);  // a period, not synchronisation: watches are polled
    }
  });
}

ProducerService::~ProducerService() { StopTicker(); }

void ProducerService::StopTicker() {
  stop_ticker_ = true;
  if (ticker_.joinable()) ticker_.join();
}

void ProducerService::StartDrain() { rpc_.StartDrain(); }

grpc::ServerUnaryReactor* ProducerService::Warm(grpc::CallbackServerContext* ctx,
                                                const cdnwarm::v1::WarmRequest* request,
                                                cdnwarm::v1::WarmReply* reply) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (absl::Status s = rpc_.Admit(*ctx); !s.ok()) return rpc_.FinishUnary(reactor, "Warm", s);
  if (absl::Status s = limiter_.TryTake(limiter_.Client(*ctx), 1, rpc_.clock().Now()); !s.ok()) {
    return rpc_.FinishUnary(reactor, "Warm", s);
  }
  if (request->urls_size() > 0) {
    return rpc_.FinishUnary(
        reactor, "Warm",
        absl::InvalidArgumentError(
            "urls: only WarmBatch takes a list of URLs; Warm takes one, in url"));
  }
  absl::StatusOr<TaskTemplate> options = ValidateOptions(request->options(), options_.regions);
  if (!options.ok()) return rpc_.FinishUnary(reactor, "Warm", options.status());
  absl::StatusOr<common::CanonicalUrl> url = intake_.Validate(request->url());
  if (!url.ok()) return rpc_.FinishUnary(reactor, "Warm", url.status());

  const std::string job_id = NewJobId();
  reply->set_job_id(job_id);
  reply->set_task_id(TaskId(job_id, 0));
  reply->set_canonical_url(url->url);
  intake_.Enqueue(job_id, 0, *url, *options, Lane::kInteractive, rpc_.RecordDeadline(*ctx),
                  [this, reactor, reply](absl::StatusOr<Published> published) {
                    if (published.ok()) {
                      reply->set_partition(published->partition);
                      reply->set_offset(published->offset);
                    }
                    rpc_.FinishUnary(reactor, "Warm", published.status());
                  });
  return reactor;
}

// Reads the stream entry by entry into one BatchJob; stops reading while too many records
// wait for the broker, so a fast client cannot fill the producer's memory.
grpc::ServerReadReactor<cdnwarm::v1::WarmRequest>* ProducerService::WarmBatch(
    grpc::CallbackServerContext* ctx, cdnwarm::v1::WarmBatchReply* reply) {
  return new BatchReactor(BatchContext{.rpc = rpc_,
                                       .intake = intake_,
                                       .limiter = limiter_,
                                       .paused = paused_,
                                       .regions = options_.regions,
                                       .max_batch_urls = options_.max_batch_urls,
                                       .max_batch_in_flight = options_.max_batch_in_flight},
                          ctx, reply);
}

grpc::ServerUnaryReactor* ProducerService::WarmSitemap(
    grpc::CallbackServerContext* ctx, const cdnwarm::v1::WarmSitemapRequest* request,
    cdnwarm::v1::WarmBatchReply* reply) {
  ExpandOptions options;
  options.fetch = options_.fetch;
  options.max_depth = request->max_depth() == 0 ? 3 : request->max_depth();
  options.max_urls = request->max_urls() == 0 ? 50000 : request->max_urls();
  absl::Status bad;
  if (request->max_depth() > 5) bad = absl::InvalidArgumentError("max_depth: must be 0..5");
  if (request->max_urls() > 1000000)
    bad = absl::InvalidArgumentError("max_urls: must be 0..1000000");
  if (absl::StatusOr<common::CanonicalUrl> u =
          intake_.Validate(request->sitemap_url(), "sitemap_url");
      !u.ok()) {
    bad = u.status();
  }
  if (!bad.ok()) return rpc_.FinishUnary(ctx->DefaultReactor(), "WarmSitemap", bad);
  return expansions_.Run(
      ctx, "WarmSitemap", request->options(), reply,
      [this, url = request->sitemap_url(), options](UrlSink& sink, ExpansionSummary* summary) {
        return ExpandSitemap(guard_, url, options, sink, summary);
      });
}

grpc::ServerUnaryReactor* ProducerService::WarmPlaylist(
    grpc::CallbackServerContext* ctx, const cdnwarm::v1::WarmPlaylistRequest* request,
    cdnwarm::v1::WarmBatchReply* reply) {
  ExpandOptions options;
  options.fetch = options_.fetch;
  options.max_urls = request->max_urls() == 0 ? 100000 : request->max_urls();
  options.include_playlists = request->include_playlists();
  absl::Status bad;
  if (request->max_urls() > 1000000)
    bad = absl::InvalidArgumentError("max_urls: must be 0..1000000");
  if (absl::StatusOr<common::CanonicalUrl> u =
          intake_.Validate(request->playlist_url(), "playlist_url");
      !u.ok()) {
    bad = u.status();
  }
  if (!bad.ok()) return rpc_.FinishUnary(ctx->DefaultReactor(), "WarmPlaylist", bad);
  return expansions_.Run(
      ctx, "WarmPlaylist", request->options(), reply,
      [this, url = request->playlist_url(), options](UrlSink& sink, ExpansionSummary* summary) {
        return ExpandPlaylist(guard_, url, options, sink, summary);
      });
}

grpc::ServerUnaryReactor* ProducerService::GetJob(grpc::CallbackServerContext* ctx,
                                                  const cdnwarm::v1::GetJobRequest* request,
                                                  cdnwarm::v1::Job* reply) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (absl::Status s = rpc_.Admit(*ctx); !s.ok()) return rpc_.FinishUnary(reactor, "GetJob", s);
  if (absl::Status s = CheckJobId(request->job_id()); !s.ok()) {
    return rpc_.FinishUnary(reactor, "GetJob", s);
  }
  absl::StatusOr<cdnwarm::v1::Job> job = tracker_.Get(request->job_id());
  if (job.ok()) *reply = *std::move(job);
  return rpc_.FinishUnary(reactor, "GetJob", job.status());
}

grpc::ServerUnaryReactor* ProducerService::ListJobs(grpc::CallbackServerContext* ctx,
                                                    const cdnwarm::v1::ListJobsRequest* request,
                                                    cdnwarm::v1::ListJobsReply* reply) {
  constexpr absl::string_view kRpc = "ListJobs";
  constexpr uint32_t kMaxPage = 100;
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (absl::Status s = rpc_.Admit(*ctx); !s.ok()) return rpc_.FinishUnary(reactor, kRpc, s);
  if (request->page_size() > kMaxPage) {
    return rpc_.FinishUnary(
        reactor, kRpc,
        absl::InvalidArgumentError(absl::StrCat("page_size: at most ", kMaxPage, " jobs a page")));
  }
  if (!request->page_token().empty()) {
    if (absl::Status s = CheckJobId(request->page_token(), "page_token"); !s.ok()) {
      return rpc_.FinishUnary(reactor, kRpc, s);
    }
  }
  bool more = false;
  absl::StatusOr<std::vector<cdnwarm::v1::Job>> jobs = tracker_.List(
      request->page_token(), request->page_size() == 0 ? 20 : request->page_size(), &more);
  if (jobs.ok()) {
    for (cdnwarm::v1::Job& job : *jobs) *reply->add_jobs() = std::move(job);
    if (more) reply->set_next_page_token(reply->jobs(reply->jobs_size() - 1).job_id());
    reply->set_total_jobs(tracker_.job_count());
  }
  return rpc_.FinishUnary(reactor, kRpc, jobs.status());
}

grpc::ServerUnaryReactor* ProducerService::ListResults(
    grpc::CallbackServerContext* ctx, const cdnwarm::v1::ListResultsRequest* request,
    cdnwarm::v1::ListResultsReply* reply) {
  constexpr absl::string_view kRpc = "ListResults";
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (absl::Status s = rpc_.Admit(*ctx); !s.ok()) return rpc_.FinishUnary(reactor, kRpc, s);
  if (options_.results_topic.empty()) {
    return rpc_.FinishUnary(reactor, kRpc, absl::UnimplementedError("no results topic here"));
  }
  absl::Status bad = CheckJobId(request->job_id());
  if (bad.ok() && !request->region().empty()) {
    if (absl::Status s = common::ValidateRegion(request->region()); !s.ok()) {
      bad = absl::InvalidArgumentError(absl::StrCat("region: ", s.message()));
    }
  }
  ResultQuery query;
  for (int i = 0; bad.ok() && i < request->outcomes_size(); ++i) {
    const cdnwarm::v1::Outcome outcome = request->outcomes(i);
    if (outcome == cdnwarm::v1::OUTCOME_UNSPECIFIED || !cdnwarm::v1::Outcome_IsValid(outcome)) {
      bad = absl::InvalidArgumentError(
          absl::StrCat("outcomes[", i, "]: ", request->outcomes(i), " is not an outcome"));
    }
    query.outcomes.push_back(outcome);
  }
  if (bad.ok() && request->page_size() > 1000) {
    bad = absl::InvalidArgumentError(
        absl::StrCat("page_size: ", request->page_size(), " is not 0..1000"));
  }
  if (bad.ok() && !request->page_token().empty()) {
    absl::StatusOr<int64_t> offset = ResultReader::ParseToken(request->page_token());
    if (offset.ok()) query.from_offset = *offset;
    bad = offset.status();
  }
  if (!bad.ok()) return rpc_.FinishUnary(reactor, kRpc, bad);
  // Its creation time only: building the job's progress would walk all its results.
  absl::StatusOr<absl::Time> created = tracker_.CreatedAt(request->job_id());
  if (!created.ok()) return rpc_.FinishUnary(reactor, kRpc, created.status());
  query.job_id = request->job_id();
  query.created_at = *created;
  query.region = request->region();
  query.page_size = request->page_size() == 0 ? 100 : request->page_size();
  query.deadline = rpc_.RecordDeadline(*ctx);
  const bool queued = result_reads_.TrySubmit([this, reactor, reply, query] {
    absl::StatusOr<cdnwarm::v1::ListResultsReply> page = results_.Read(query);
    if (page.ok()) *reply = *std::move(page);
    rpc_.FinishUnary(reactor, "ListResults", page.status());
  });
  if (!queued) {
    return rpc_.FinishUnary(
        reactor, kRpc, absl::ResourceExhaustedError("too many result reads queued; retry later"));
  }
  return reactor;
}

grpc::ServerWriteReactor<cdnwarm::v1::Job>* ProducerService::WatchJob(
    grpc::CallbackServerContext* ctx, const cdnwarm::v1::WatchJobRequest* request) {
  absl::Duration interval = common::FromProtoDuration(request->min_interval());
  absl::Status bad = rpc_.Admit(*ctx);
  if (bad.ok()) bad = CheckJobId(request->job_id());
  if (bad.ok() && (interval < absl::ZeroDuration() || interval > absl::Seconds(60))) {
    bad = absl::InvalidArgumentError("min_interval: must be between 0 and 60s");
  }
  if (bad.ok()) bad = tracker_.Get(request->job_id()).status();
  if (interval == absl::ZeroDuration()) interval = absl::Milliseconds(200);

  auto watch =
      std::make_shared<WatchReactor>(rpc_, tracker_, watches_, request->job_id(), interval);
  // A refused watch ends before it is ticked: it writes nothing, not even the job's state.
  if (!bad.ok()) watch->End(common::ToGrpcStatus(bad));
  watches_.Add(watch);
  watch->Start(watch);
  return watch.get();
}

}  // namespace cdnwarm::producer
