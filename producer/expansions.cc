#include "producer/expansions.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/time/clock.h"
#include "common/core/log.h"
#include "producer/batch_job.h"
#include "producer/task_factory.h"

namespace cdnwarm::producer {
namespace {

// Feeds expanded URLs into a batch job, holding the expansion back while too many
// records wait for the broker or the client is over its rate, and stopping it when the
// caller went away. Runs on an expansion worker, which may block.
class JobSink final : public UrlSink {
 public:
  JobSink(BatchJob& job, const TaskTemplate& options, size_t max_in_flight,
          grpc::CallbackServerContext& ctx, ClientRateLimiter& limiter, std::string client,
          const common::Clock& clock)
      : job_(job),
        options_(options),
        max_in_flight_(max_in_flight),
        ctx_(ctx),
        limiter_(limiter),
        client_(std::move(client)),
        clock_(clock) {}

  absl::Status Add(absl::string_view url) override {
    if (ctx_.IsCancelled()) return absl::CancelledError("the call was cancelled");
    job_.WaitBelow(max_in_flight_);
    // Paces the expansion to the client's rate, in slices so a cancelled call stops it.
    const absl::Time now = clock_.Now();
    const absl::Time until = now + limiter_.Take(client_, 1, now);
    while (clock_.Now() < until) {
      if (ctx_.IsCancelled()) return absl::CancelledError("the call was cancelled");
      absl::SleepFor(std::min(until - clock_.Now(), absl::Milliseconds(100)));  // a real wait
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
  const common::Clock& clock_;
};

}  // namespace

Expansions::Expansions(ExpansionContext context)
    : c_(context), workers_(c_.threads, c_.max_queued) {}

grpc::ServerUnaryReactor* Expansions::Run(grpc::CallbackServerContext* ctx, absl::string_view rpc,
                                          const cdnwarm::v1::TaskOptions& options,
                                          cdnwarm::v1::WarmBatchReply* reply, Expansion expansion) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (absl::Status s = c_.rpc.Admit(*ctx); !s.ok()) return c_.rpc.FinishUnary(reactor, rpc, s);
  absl::StatusOr<TaskTemplate> validated = ValidateOptions(options, c_.regions);
  if (!validated.ok()) return c_.rpc.FinishUnary(reactor, rpc, validated.status());
  auto job = std::make_shared<BatchJob>(c_.intake, NewJobId(), c_.rpc.RecordDeadline(*ctx));
  const bool queued = workers_.TrySubmit([this, ctx, reactor, reply, job, rpc = std::string(rpc),
                                          template_ = *std::move(validated),
                                          expansion = std::move(expansion)] {
    JobSink sink(*job, template_, c_.max_batch_in_flight, *ctx, c_.limiter, c_.limiter.Client(*ctx),
                 c_.rpc.clock());
    ExpansionSummary summary;
    absl::Status expanded = expansion(sink, &summary);
    const absl::Time deadline = c_.rpc.RecordDeadline(*ctx);
    job->Close([this, reactor, reply, rpc, expanded, summary, deadline, job_id = job->job_id()](
                   absl::Status s, cdnwarm::v1::WarmBatchReply r) {
      if (!expanded.ok()) s = expanded;
      if (!s.ok() || !summary.truncated()) {
        if (s.ok()) *reply = std::move(r);
        c_.rpc.FinishUnary(reactor, rpc, s);
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
      c_.intake.NoteTruncation(
          job_id, truncated, deadline,
          [this, reactor, reply, rpc, job_id, r = std::move(r)](absl::StatusOr<Published> noted) {
            if (!noted.ok()) {
              log::Warn("the job's truncation note was not stored",
                        {{"job", job_id}, {"error", std::string(noted.status().message())}});
            }
            *reply = r;
            c_.rpc.FinishUnary(reactor, rpc, absl::OkStatus());
          });
    });
  });
  if (!queued) {
    return c_.rpc.FinishUnary(
        reactor, rpc,
        absl::ResourceExhaustedError(
            "too many sitemap and playlist expansions are running; retry later"));
  }
  return reactor;
}

}  // namespace cdnwarm::producer
