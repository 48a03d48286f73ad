#include "producer/batch_reactor.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/core/grpc_status.h"

namespace cdnwarm::producer {
namespace {

constexpr int kMaxUrlsPerMessage = 1000;  // WarmRequest.urls in one WarmBatch message

}  // namespace

BatchReactor::BatchReactor(BatchContext context, grpc::CallbackServerContext* ctx,
                           cdnwarm::v1::WarmBatchReply* reply)
    : c_(context), reply_(reply), client_(c_.limiter.Client(*ctx)) {
  if (absl::Status s = c_.rpc.Admit(*ctx); !s.ok()) {
    Done(s, {});
    return;
  }
  job_ = std::make_shared<BatchJob>(c_.intake, NewJobId(), c_.rpc.RecordDeadline(*ctx));
  StartRead(&request_);
}

void BatchReactor::OnReadDone(bool ok) {
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
    too_big = absl::InvalidArgumentError(absl::StrCat("urls: at most ", kMaxUrlsPerMessage,
                                                      " per message, got ", request_.urls_size()));
  } else if (job_->entries() + n > c_.max_batch_urls) {
    too_big = absl::InvalidArgumentError(
        absl::StrCat("WarmBatch: at most ", c_.max_batch_urls,
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
  absl::StatusOr<TaskTemplate> options = !have_first_ || request_.has_options()
                                             ? ValidateOptions(request_.options(), c_.regions)
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
  const absl::Time now = c_.rpc.clock().Now();
  const absl::Time resume = now + c_.limiter.Take(client_, n, now);
  job_->OnBelow(c_.max_batch_in_flight,
                [this, resume] { c_.paused.ResumeAt(resume, [this] { StartRead(&request_); }); });
}

void BatchReactor::Done(const absl::Status& status, cdnwarm::v1::WarmBatchReply reply) {
  if (status.ok()) *reply_ = std::move(reply);
  const grpc::Status g = common::ToGrpcStatus(status);
  c_.rpc.Count("WarmBatch", g);
  Finish(g);
}

void ResumeQueue::ResumeAt(absl::Time at, std::function<void()> resume) {
  if (at > rpc_.clock().Now() && !rpc_.draining()) {
    common::MutexLock lock(&mu_);
    paused_.emplace_back(at, std::move(resume));
    return;
  }
  resume();
}

void ResumeQueue::Tick(absl::Time now) {
  std::vector<std::function<void()>> due;
  {
    common::MutexLock lock(&mu_);
    const bool draining = rpc_.draining();
    auto rest = std::partition(paused_.begin(), paused_.end(),
                               [&](const auto& p) { return p.first > now && !draining; });
    for (auto it = rest; it != paused_.end(); ++it) due.push_back(std::move(it->second));
    paused_.erase(rest, paused_.end());
  }
  for (auto& resume : due) resume();  // without the lock: StartRead may react inline
}

}  // namespace cdnwarm::producer
