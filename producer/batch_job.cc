#include "producer/batch_job.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/core/sync.h"

namespace cdnwarm::producer {
namespace {
constexpr int kMaxListedRejections = 1000;
constexpr size_t kMaxRejectedUrlBytes = 512;
}  // namespace

BatchJob::BatchJob(Intake& intake, std::string job_id, absl::Time deadline)
    : intake_(intake), job_id_(std::move(job_id)), deadline_(deadline) {
  reply_.set_job_id(job_id_);
}

void BatchJob::RecordRejection(uint32_t index, absl::string_view url, absl::string_view reason) {
  reply_.set_rejected_count(reply_.rejected_count() + 1);
  if (reply_.rejected_size() >= kMaxListedRejections) return;
  cdnwarm::v1::Rejection* r = reply_.add_rejected();
  r->set_index(index);
  r->set_url(std::string(url.substr(0, kMaxRejectedUrlBytes)));
  r->set_reason(std::string(reason));
}

void BatchJob::Reject(absl::string_view url, absl::string_view reason) {
  common::MutexLock lock(&mu_);
  RecordRejection(next_index_++, url, reason);
}

void BatchJob::Add(absl::string_view raw_url, const TaskTemplate& options) {
  uint32_t index = 0;
  absl::StatusOr<common::CanonicalUrl> url = intake_.Validate(raw_url);
  {
    common::MutexLock lock(&mu_);
    index = next_index_++;
    if (!url.ok()) {
      RecordRejection(index, raw_url, url.status().message());
      return;
    }
    ++outstanding_;
  }
  intake_.Enqueue(job_id_, index, *url, options, Lane::kBulk, deadline_,
                  [self = shared_from_this(), index,
                   canonical = url->url](absl::StatusOr<Published> published) {
                    self->Settled(index, canonical, published.status());
                  });
}

void BatchJob::Settled(uint32_t index, absl::string_view url, absl::Status status) {
  std::function<void()> resume;
  std::function<void()> completion;
  {
    common::MutexLock lock(&mu_);
    --outstanding_;
    if (status.ok()) {
      reply_.set_accepted(reply_.accepted() + 1);
    } else {
      if (first_kafka_error_.ok()) first_kafka_error_ = status;
      RecordRejection(index, url, absl::StrCat("kafka: ", status.message()));
    }
    below_.SignalAll();
    if (resume_ && outstanding_ < resume_limit_) resume.swap(resume_);
    completion = TakeCompletion();
  }
  if (resume) resume();
  if (completion) completion();
}

size_t BatchJob::outstanding() const {
  common::MutexLock lock(&mu_);
  return outstanding_;
}

uint32_t BatchJob::entries() const {
  common::MutexLock lock(&mu_);
  return next_index_;
}

void BatchJob::WaitBelow(size_t limit) {
  common::MutexLock lock(&mu_);
  while (outstanding_ >= limit) below_.Wait(&mu_);
}

void BatchJob::OnBelow(size_t limit, std::function<void()> resume) {
  {
    common::MutexLock lock(&mu_);
    if (outstanding_ >= limit) {
      resume_limit_ = limit;
      resume_ = std::move(resume);
      return;
    }
  }
  resume();
}

void BatchJob::Close(Done done) {
  std::function<void()> completion;
  {
    common::MutexLock lock(&mu_);
    closed_ = true;
    done_ = std::move(done);
    completion = TakeCompletion();
  }
  if (completion) completion();
}

std::function<void()> BatchJob::TakeCompletion() {
  if (!closed_ || outstanding_ > 0 || !done_) return nullptr;
  absl::Status status;
  if (reply_.accepted() == 0 && !first_kafka_error_.ok()) status = first_kafka_error_;
  return [done = std::move(done_), status, reply = reply_]() { done(status, reply); };
}

}  // namespace cdnwarm::producer
