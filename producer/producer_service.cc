#include "producer/producer_service.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/naming.h"
#include "common/proto_time.h"
#include "producer/batch_job.h"

namespace cdnwarm::producer {
namespace {

constexpr size_t kMaxJobIdBytes = 64;
constexpr absl::Duration kWatchTick = absl::Milliseconds(50);
constexpr int kMaxUrlsPerMessage = 1000;  // WarmRequest.urls in one WarmBatch message

absl::Status CheckJobId(const std::string& job_id) {
  if (job_id.empty()) return absl::InvalidArgumentError("job_id: is empty");
  if (job_id.size() > kMaxJobIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("job_id: is longer than ", kMaxJobIdBytes, " bytes"));
  }
  return absl::OkStatus();
}

// Feeds expanded URLs into a batch job, holding the expansion back while too many
// records wait for the broker or the client is over its rate, and stopping it when the
// caller went away. Runs on an expansion worker, which may block.
class JobSink final : public UrlSink {
 public:
  JobSink(BatchJob& job, const TaskTemplate& options, size_t max_in_flight,
          grpc::CallbackServerContext& ctx, ClientRateLimiter& limiter, std::string client)
      : job_(job),
        options_(options),
        max_in_flight_(max_in_flight),
        ctx_(ctx),
        limiter_(limiter),
        client_(std::move(client)) {}

  absl::Status Add(absl::string_view url) override {
    if (ctx_.IsCancelled()) return absl::CancelledError("the call was cancelled");
    job_.WaitBelow(max_in_flight_);
    // Paces the expansion to the client's rate, in slices so a cancelled call stops it.
    const absl::Time until = absl::Now() + limiter_.Take(client_, 1, absl::Now());
    while (absl::Now() < until) {
      if (ctx_.IsCancelled()) return absl::CancelledError("the call was cancelled");
      absl::SleepFor(std::min(until - absl::Now(), absl::Milliseconds(100)));
    }
    job_.Add(url, options_);
    return absl::OkStatus();
  }
  void Reject(absl::string_view url, absl::string_view reason) override {
    job_.Reject(url, reason);
  }
  bool Stopped() const override { return ctx_.IsCancelled(); }

 private:
  BatchJob& job_;
  const TaskTemplate& options_;
  const size_t max_in_flight_;
  grpc::CallbackServerContext& ctx_;
  ClientRateLimiter& limiter_;
  const std::string client_;
};

}  // namespace

ProducerService::ProducerService(ProducerServiceOptions options, Intake& intake,
                                 JobTracker& tracker, const common::FetchGuard& guard,
                                 const common::BearerAuth& auth, metrics::Registry& registry)
    : options_(std::move(options)),
      intake_(intake),
      tracker_(tracker),
      guard_(guard),
      auth_(auth),
      rpcs_(registry.AddCounter("cdnwarm_producer_rpcs_total", "Producer RPCs by method and code",
                                {"rpc", "code"})),
      expansions_(options_.expansion_threads, options_.max_queued_expansions),
      limiter_(options_.client_rate, options_.client_burst),
      results_(options_.kafka, options_.results_topic),
      result_reads_(options_.result_threads, options_.max_queued_result_reads) {
  ticker_ = std::thread([this] {
    while (!stop_ticker_) {
      TickWatches();
      TickPaused(absl::Now());
      absl::SleepFor(kWatchTick);  // a period, not synchronisation: watches are polled
    }
  });
}

ProducerService::~ProducerService() { StopTicker(); }

void ProducerService::StopTicker() {
  stop_ticker_ = true;
  if (ticker_.joinable()) ticker_.join();
}

void ProducerService::StartDrain() { draining_ = true; }

absl::Status ProducerService::Admit(const grpc::CallbackServerContext& ctx) const {
  if (draining_) return absl::UnavailableError("producer is shutting down; retry elsewhere");
  return auth_.Check(ctx);
}

absl::Time ProducerService::RecordDeadline(const grpc::CallbackServerContext& ctx) const {
  const absl::Time cap = absl::Now() + options_.max_wait;
  const std::chrono::system_clock::time_point d = ctx.deadline();
  if (d == std::chrono::system_clock::time_point::max()) return cap;
  // Answer a little before the caller gives up, so it sees UNAVAILABLE, not a bare timeout.
  return std::min(cap, absl::FromChrono(d) - absl::Milliseconds(100));
}

void ProducerService::Count(absl::string_view rpc, const grpc::Status& status) {
  rpcs_
      .Labels({std::string(rpc),
               absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()))})
      .Increment();
}

grpc::ServerUnaryReactor* ProducerService::FinishUnary(grpc::ServerUnaryReactor* reactor,
                                                       absl::string_view rpc,
                                                       const absl::Status& status) {
  const grpc::Status g = common::ToGrpcStatus(status);
  Count(rpc, g);
  reactor->Finish(g);
  return reactor;
}

grpc::ServerUnaryReactor* ProducerService::Warm(grpc::CallbackServerContext* ctx,
                                                const cdnwarm::v1::WarmRequest* request,
                                                cdnwarm::v1::WarmReply* reply) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (absl::Status s = Admit(*ctx); !s.ok()) return FinishUnary(reactor, "Warm", s);
  if (absl::Status s = limiter_.TryTake(limiter_.Client(*ctx), 1, absl::Now()); !s.ok()) {
    return FinishUnary(reactor, "Warm", s);
  }
  if (request->urls_size() > 0) {
    return FinishUnary(reactor, "Warm",
                       absl::InvalidArgumentError(
                           "urls: only WarmBatch takes a list of URLs; Warm takes one, in url"));
  }
  absl::StatusOr<TaskTemplate> options = ValidateOptions(request->options(), options_.regions);
  if (!options.ok()) return FinishUnary(reactor, "Warm", options.status());
  absl::StatusOr<common::CanonicalUrl> url = intake_.Validate(request->url());
  if (!url.ok()) return FinishUnary(reactor, "Warm", url.status());

  const std::string job_id = NewJobId();
  reply->set_job_id(job_id);
  reply->set_task_id(TaskId(job_id, 0));
  reply->set_canonical_url(url->url);
  intake_.Enqueue(job_id, 0, *url, *options, RecordDeadline(*ctx),
                  [this, reactor, reply](absl::StatusOr<Published> published) {
                    if (published.ok()) {
                      reply->set_partition(published->partition);
                      reply->set_offset(published->offset);
                    }
                    FinishUnary(reactor, "Warm", published.status());
                  });
  return reactor;
}

// Reads the stream entry by entry into one BatchJob; stops reading while too many records
// wait for the broker, so a fast client cannot fill the producer's memory.
class ProducerService::BatchReactor final
    : public grpc::ServerReadReactor<cdnwarm::v1::WarmRequest> {
 public:
  BatchReactor(ProducerService& service, grpc::CallbackServerContext* ctx,
               cdnwarm::v1::WarmBatchReply* reply)
      : service_(service), reply_(reply), client_(service.limiter_.Client(*ctx)) {
    if (absl::Status s = service_.Admit(*ctx); !s.ok()) {
      Done(s, {});
      return;
    }
    job_ = std::make_shared<BatchJob>(service_.intake_, NewJobId(), service_.RecordDeadline(*ctx));
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      if (job_->entries() == 0) {
        Done(absl::InvalidArgumentError("WarmBatch: the stream carried no requests"), {});
        return;
      }
      job_->Close([this](absl::Status s, cdnwarm::v1::WarmBatchReply r) { Done(s, std::move(r)); });
      return;
    }
    // A message with only `urls` has no entry in `url`.
    const bool single = !request_.url().empty() || request_.urls_size() == 0;
    const size_t n = static_cast<size_t>(request_.urls_size()) + (single ? 1 : 0);
    absl::Status too_big;
    if (request_.urls_size() > kMaxUrlsPerMessage) {
      too_big = absl::InvalidArgumentError(absl::StrCat(
          "urls: at most ", kMaxUrlsPerMessage, " per message, got ", request_.urls_size()));
    } else if (job_->entries() + n > service_.options_.max_batch_urls) {
      too_big = absl::InvalidArgumentError(
          absl::StrCat("WarmBatch: at most ", service_.options_.max_batch_urls,
                       " URLs per stream; split the list into several batches"));
    }
    if (!too_big.ok()) {
      // The job so far stands: what was accepted is enqueued and its records are answered.
      job_->Close([this, too_big](absl::Status, cdnwarm::v1::WarmBatchReply) {
        Done(absl::Status(too_big.code(),
                          absl::StrCat(too_big.message(), " (job ", job_->job_id(), " keeps the ",
                                       job_->entries(), " entries before)")),
             {});
      });
      return;
    }
    absl::StatusOr<TaskTemplate> options =
        !have_first_ || request_.has_options()
            ? ValidateOptions(request_.options(), service_.options_.regions)
            : absl::StatusOr<TaskTemplate>(first_options_);
    if (options.ok() && !have_first_) {
      first_options_ = *options;
      have_first_ = true;
    }
    for (int i = single ? -1 : 0; i < request_.urls_size(); ++i) {
      const std::string& url = i < 0 ? request_.url() : request_.urls(i);
      if (options.ok()) {
        job_->Add(url, *options);
      } else {
        job_->Reject(url, options.status().message());
      }
    }
    // Reads on once the broker has caught up and the client is back within its rate.
    const absl::Time resume = absl::Now() + service_.limiter_.Take(client_, n, absl::Now());
    job_->OnBelow(service_.options_.max_batch_in_flight,
                  [this, resume] { service_.ResumeAt(resume, [this] { StartRead(&request_); }); });
  }

  void OnDone() override { delete this; }

 private:
  void Done(const absl::Status& status, cdnwarm::v1::WarmBatchReply reply) {
    if (status.ok()) *reply_ = std::move(reply);
    const grpc::Status g = common::ToGrpcStatus(status);
    service_.Count("WarmBatch", g);
    Finish(g);
  }

  ProducerService& service_;
  cdnwarm::v1::WarmBatchReply* reply_;
  const std::string client_;
  std::shared_ptr<BatchJob> job_;
  cdnwarm::v1::WarmRequest request_;
  TaskTemplate first_options_;
  bool have_first_ = false;
};

grpc::ServerReadReactor<cdnwarm::v1::WarmRequest>* ProducerService::WarmBatch(
    grpc::CallbackServerContext* ctx, cdnwarm::v1::WarmBatchReply* reply) {
  return new BatchReactor(*this, ctx, reply);
}

grpc::ServerUnaryReactor* ProducerService::Expand(grpc::CallbackServerContext* ctx,
                                                  absl::string_view rpc,
                                                  const cdnwarm::v1::TaskOptions& options,
                                                  cdnwarm::v1::WarmBatchReply* reply,
                                                  Expansion expansion) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (absl::Status s = Admit(*ctx); !s.ok()) return FinishUnary(reactor, rpc, s);
  absl::StatusOr<TaskTemplate> validated = ValidateOptions(options, options_.regions);
  if (!validated.ok()) return FinishUnary(reactor, rpc, validated.status());
  auto job = std::make_shared<BatchJob>(intake_, NewJobId(), RecordDeadline(*ctx));
  const bool queued = expansions_.TrySubmit([this, ctx, reactor, reply, job, rpc = std::string(rpc),
                                             template_ = *std::move(validated),
                                             expansion = std::move(expansion)] {
    JobSink sink(*job, template_, options_.max_batch_in_flight, *ctx, limiter_,
                 limiter_.Client(*ctx));
    ExpansionSummary summary;
    absl::Status expanded = expansion(sink, &summary);
    const absl::Time deadline = RecordDeadline(*ctx);
    job->Close([this, reactor, reply, rpc, expanded, summary, deadline, job_id = job->job_id()](
                   absl::Status s, cdnwarm::v1::WarmBatchReply r) {
      if (!expanded.ok()) s = expanded;
      if (!s.ok() || !summary.truncated()) {
        if (s.ok()) *reply = std::move(r);
        FinishUnary(reactor, rpc, s);
        return;
      }
      // Stopped at max_urls: the reply says so, and so does the job, for every replica,
      // once the note is on the results topic.
      cdnwarm::v1::Truncation truncated;
      truncated.set_found(summary.found);
      truncated.set_kept(summary.kept);
      truncated.set_unread_sitemaps(summary.unread_sitemaps);
      *r.mutable_truncated() = truncated;
      // The tasks are accepted whatever happens to the note: the reply is OK (a failed
      // call would be retried as a second job); only GetJob may then miss `truncated`.
      intake_.NoteTruncation(
          job_id, truncated, deadline,
          [this, reactor, reply, rpc, job_id, r = std::move(r)](absl::StatusOr<Published> noted) {
            if (!noted.ok()) {
              log::Warn("the job's truncation note was not stored",
                        {{"job", job_id}, {"error", std::string(noted.status().message())}});
            }
            *reply = r;
            FinishUnary(reactor, rpc, absl::OkStatus());
          });
    });
  });
  if (!queued) {
    return FinishUnary(reactor, rpc,
                       absl::ResourceExhaustedError(
                           "too many sitemap and playlist expansions are running; retry later"));
  }
  return reactor;
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
  if (!bad.ok()) return FinishUnary(ctx->DefaultReactor(), "WarmSitemap", bad);
  return Expand(
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
  if (!bad.ok()) return FinishUnary(ctx->DefaultReactor(), "WarmPlaylist", bad);
  return Expand(
      ctx, "WarmPlaylist", request->options(), reply,
      [this, url = request->playlist_url(), options](UrlSink& sink, ExpansionSummary* summary) {
        return ExpandPlaylist(guard_, url, options, sink, summary);
      });
}

grpc::ServerUnaryReactor* ProducerService::GetJob(grpc::CallbackServerContext* ctx,
                                                  const cdnwarm::v1::GetJobRequest* request,
                                                  cdnwarm::v1::Job* reply) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (absl::Status s = Admit(*ctx); !s.ok()) return FinishUnary(reactor, "GetJob", s);
  if (absl::Status s = CheckJobId(request->job_id()); !s.ok()) {
    return FinishUnary(reactor, "GetJob", s);
  }
  absl::StatusOr<cdnwarm::v1::Job> job = tracker_.Get(request->job_id());
  if (job.ok()) *reply = *std::move(job);
  return FinishUnary(reactor, "GetJob", job.status());
}

grpc::ServerUnaryReactor* ProducerService::ListResults(
    grpc::CallbackServerContext* ctx, const cdnwarm::v1::ListResultsRequest* request,
    cdnwarm::v1::ListResultsReply* reply) {
  constexpr absl::string_view kRpc = "ListResults";
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (absl::Status s = Admit(*ctx); !s.ok()) return FinishUnary(reactor, kRpc, s);
  if (options_.results_topic.empty()) {
    return FinishUnary(reactor, kRpc, absl::UnimplementedError("no results topic here"));
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
  if (!bad.ok()) return FinishUnary(reactor, kRpc, bad);
  // Its creation time only: building the job's progress would walk all its results.
  absl::StatusOr<absl::Time> created = tracker_.CreatedAt(request->job_id());
  if (!created.ok()) return FinishUnary(reactor, kRpc, created.status());
  query.job_id = request->job_id();
  query.created_at = *created;
  query.region = request->region();
  query.page_size = request->page_size() == 0 ? 100 : request->page_size();
  query.deadline = RecordDeadline(*ctx);
  const bool queued = result_reads_.TrySubmit([this, reactor, reply, query] {
    absl::StatusOr<cdnwarm::v1::ListResultsReply> page = results_.Read(query);
    if (page.ok()) *reply = *std::move(page);
    FinishUnary(reactor, "ListResults", page.status());
  });
  if (!queued) {
    return FinishUnary(reactor, kRpc,
                       absl::ResourceExhaustedError("too many result reads queued; retry later"));
  }
  return reactor;
}

// Sends the job's state first, then again whenever it changed (at most once per
// min_interval), and finishes once the job is done. Polled by the service's ticker.
class ProducerService::WatchReactor final : public grpc::ServerWriteReactor<cdnwarm::v1::Job> {
 public:
  WatchReactor(ProducerService& service, std::string job_id, absl::Duration min_interval)
      : service_(service), job_id_(std::move(job_id)), min_interval_(min_interval) {}

  void Start(std::shared_ptr<WatchReactor> self) {
    self_ = std::move(self);
    std::weak_ptr<WatchReactor> weak = self_;
    watch_ = service_.tracker_.Watch(job_id_, [weak] {
      if (auto w = weak.lock()) w->changed_ = true;
    });
  }

  // From the ticker thread. gRPC calls (StartWrite, Finish) are made without the lock:
  // they may run reactions inline.
  void Tick(absl::Time now) {
    std::unique_lock<std::mutex> lock(mu_);
    if (finishing_ || writing_) return;
    if (service_.draining_) {
      EndLocked(lock, absl::UnavailableError("producer is shutting down; watch again elsewhere"));
      return;
    }
    if (!changed_ || now < next_send_) return;
    changed_ = false;
    absl::StatusOr<cdnwarm::v1::Job> job = service_.tracker_.Get(job_id_);
    if (!job.ok()) {
      EndLocked(lock, job.status());
      return;
    }
    job_ = *std::move(job);
    next_send_ = now + min_interval_;
    writing_ = true;
    lock.unlock();
    StartWrite(&job_);
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) {
      EndLocked(lock, absl::CancelledError("the watcher went away"));
    } else if (job_.done()) {
      EndLocked(lock, absl::OkStatus());
    } else if (finishing_) {
      // An end was decided while the write was in flight.
      const grpc::Status status = end_status_;
      lock.unlock();
      Finish(status);
    }
  }

  void OnCancel() override {
    std::unique_lock<std::mutex> lock(mu_);
    EndLocked(lock, absl::CancelledError("the watch was cancelled or its deadline passed"));
  }

  // Ends the watch with `status` (from any thread).
  void End(const absl::Status& status) {
    std::unique_lock<std::mutex> lock(mu_);
    EndLocked(lock, status);
  }

  void OnDone() override {
    service_.tracker_.Unwatch(watch_);
    std::shared_ptr<WatchReactor> keep;
    {
      std::lock_guard<std::mutex> lock(service_.watches_mu_);
      service_.watches_.erase(self_);
      keep.swap(self_);
    }
    // `keep` may be the last owner; the object goes when this returns.
  }

 private:
  // Decides the end once; finishes now, or after the write in flight. Releases the lock.
  void EndLocked(std::unique_lock<std::mutex>& lock, const absl::Status& status) {
    if (finishing_) return;
    finishing_ = true;
    end_status_ = common::ToGrpcStatus(status);
    service_.Count("WatchJob", end_status_);
    if (writing_) return;
    const grpc::Status final_status = end_status_;
    lock.unlock();
    Finish(final_status);
  }

  ProducerService& service_;
  const std::string job_id_;
  const absl::Duration min_interval_;
  std::shared_ptr<WatchReactor> self_;
  uint64_t watch_ = 0;
  std::atomic<bool> changed_{true};  // the first tick sends the current state

  std::mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status end_status_ ABSL_GUARDED_BY(mu_);
  absl::Time next_send_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  cdnwarm::v1::Job job_;  // written under mu_, read by gRPC while writing_
};

grpc::ServerWriteReactor<cdnwarm::v1::Job>* ProducerService::WatchJob(
    grpc::CallbackServerContext* ctx, const cdnwarm::v1::WatchJobRequest* request) {
  absl::Duration interval = common::FromProtoDuration(request->min_interval());
  absl::Status bad = Admit(*ctx);
  if (bad.ok()) bad = CheckJobId(request->job_id());
  if (bad.ok() && (interval < absl::ZeroDuration() || interval > absl::Seconds(60))) {
    bad = absl::InvalidArgumentError("min_interval: must be between 0 and 60s");
  }
  if (bad.ok()) bad = tracker_.Get(request->job_id()).status();
  if (interval == absl::ZeroDuration()) interval = absl::Milliseconds(200);

  auto reactor = std::make_shared<WatchReactor>(*this, request->job_id(), interval);
  WatchReactor* raw = reactor.get();
  {
    std::lock_guard<std::mutex> lock(watches_mu_);
    watches_.insert(reactor);
  }
  reactor->Start(reactor);
  if (!bad.ok()) raw->End(bad);
  return raw;
}

void ProducerService::TickWatches() {
  std::vector<std::shared_ptr<WatchReactor>> watches;
  {
    std::lock_guard<std::mutex> lock(watches_mu_);
    watches.assign(watches_.begin(), watches_.end());
  }
  const absl::Time now = absl::Now();
  for (auto& w : watches) w->Tick(now);
}

void ProducerService::ResumeAt(absl::Time at, std::function<void()> resume) {
  if (at > absl::Now() && !draining_) {
    std::lock_guard<std::mutex> lock(paused_mu_);
    paused_.emplace_back(at, std::move(resume));
    return;
  }
  resume();
}

void ProducerService::TickPaused(absl::Time now) {
  std::vector<std::function<void()>> due;
  {
    std::lock_guard<std::mutex> lock(paused_mu_);
    auto rest = std::partition(paused_.begin(), paused_.end(),
                               [&](const auto& p) { return p.first > now && !draining_; });
    for (auto it = rest; it != paused_.end(); ++it) due.push_back(std::move(it->second));
    paused_.erase(rest, paused_.end());
  }
  for (auto& resume : due) resume();  // without the lock: StartRead may react inline
}

}  // namespace cdnwarm::producer
