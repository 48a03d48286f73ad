#include "producer/job_tracker.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/core/proto_time.h"
#include "common/core/sync.h"
#include "producer/task_factory.h"

namespace cdnwarm::producer {
JobTracker::JobTracker(JobTrackerOptions options) : options_(std::move(options)) {}

JobTracker::Job* JobTracker::FindOrCreate(const std::string& job_id) {
  auto [it, inserted] = jobs_.try_emplace(job_id);
  if (inserted) order_.push_back(job_id);
  return &it->second;
}

bool JobTracker::AddTaskLocked(const std::string& job_id, uint32_t index, absl::Time enqueued_at) {
  Job* job = FindOrCreate(job_id);
  job->created_at = std::min(job->created_at, enqueued_at);
  if (!job->tasks.insert(index).second) return false;
  ++tasks_;
  EvictOverLimits();
  return true;
}

bool JobTracker::AddResultLocked(const cdnwarm::v1::WarmResult& result, std::string* changed) {
  if (result.task_id().empty() && result.region().empty() && !result.job_id().empty()) {
    // The producer's job note.
    if (!result.has_truncated()) return false;
    FindOrCreate(result.job_id())->truncated = result.truncated();
    EvictOverLimits();
    *changed = result.job_id();
    return true;
  }
  uint32_t index = 0;
  if (!ParseTaskId(result.task_id(), changed, &index) || result.region().empty()) return false;
  Job* job = FindOrCreate(*changed);
  if (!job->results[result.region()].try_emplace(index, result.outcome()).second) return false;
  ++tasks_;
  if (result.outcome() == cdnwarm::v1::OUTCOME_WARMED &&
      result.cache_after() == cdnwarm::v1::CACHE_STATUS_HIT) {
    ++job->verified_hits[result.region()];
  }
  job->updated_at = std::max(job->updated_at, result.has_finished_at()
                                                  ? common::FromProtoTimestamp(result.finished_at())
                                                  : options_.clock->Now());
  EvictOverLimits();
  return true;
}

void JobTracker::OnTask(const std::string& job_id, uint32_t index, absl::Time enqueued_at) {
  std::vector<std::function<void()>> notify;
  {
    common::MutexLock lock(&mu_);
    if (!AddTaskLocked(job_id, index, enqueued_at)) return;
    notify = WatchersOf(job_id);
  }
  for (auto& f : notify) f();
}

void JobTracker::OnResult(const cdnwarm::v1::WarmResult& result) {
  std::string job_id;
  std::vector<std::function<void()>> notify;
  {
    common::MutexLock lock(&mu_);
    if (!AddResultLocked(result, &job_id)) return;
    notify = WatchersOf(job_id);
  }
  for (auto& f : notify) f();
}

void JobTracker::OnRecords(absl::Span<const TaskRecord> tasks,
                           absl::Span<const cdnwarm::v1::WarmResult> results) {
  std::vector<std::function<void()>> notify;
  {
    common::MutexLock lock(&mu_);
    // The changed jobs, collected only when someone watches (a batch is mostly one job's
    // records in a row, so a repeat of the last one is not kept).
    const bool watched = !watchers_.empty();
    std::vector<std::string> changed;
    auto changed_job = [&](const std::string& id) {
      if (watched && (changed.empty() || changed.back() != id)) changed.push_back(id);
    };
    for (const TaskRecord& t : tasks) {
      if (AddTaskLocked(t.job_id, t.index, t.enqueued_at)) changed_job(t.job_id);
    }
    std::string job_id;
    for (const cdnwarm::v1::WarmResult& r : results) {
      if (AddResultLocked(r, &job_id)) changed_job(job_id);
    }
    std::sort(changed.begin(), changed.end());
    changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
    for (const std::string& id : changed) {
      for (auto& f : WatchersOf(id)) notify.push_back(std::move(f));
    }
  }
  for (auto& f : notify) f();
}

size_t JobTracker::JobSize(const Job& job) const {
  size_t n = job.tasks.size();
  for (const auto& [region, finished] : job.results) n += finished.size();
  return n;
}

void JobTracker::Evict(const std::string& job_id) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return;
  tasks_ -= JobSize(it->second);
  jobs_.erase(it);
}

void JobTracker::EvictOverLimits() {
  while (!order_.empty() && (jobs_.size() > options_.max_jobs || tasks_ > options_.max_tasks)) {
    Evict(order_.front());
    order_.pop_front();
  }
}

void JobTracker::Expire(absl::Time now) {
  std::vector<std::function<void()>> notify;
  {
    common::MutexLock lock(&mu_);
    const absl::Time cutoff = now - options_.window;
    while (!order_.empty()) {
      auto it = jobs_.find(order_.front());
      if (it != jobs_.end() && it->second.created_at >= cutoff) break;
      // Results alone (no task seen) carry no creation time; they go with the window too.
      if (it != jobs_.end() && it->second.created_at == absl::InfiniteFuture() &&
          it->second.updated_at >= cutoff) {
        break;
      }
      for (auto& f : WatchersOf(order_.front())) notify.push_back(std::move(f));
      Evict(order_.front());
      order_.pop_front();
    }
  }
  for (auto& f : notify) f();
}

const JobTracker::Job* JobTracker::Known(const std::string& job_id) const {
  auto it = jobs_.find(job_id);
  return it == jobs_.end() || it->second.tasks.empty() ? nullptr : &it->second;
}

absl::Status JobTracker::NotKnown(const std::string& job_id) const {
  return absl::NotFoundError(
      absl::StrCat("job \"", job_id, "\" is not known here: never created, older than the ",
                   absl::FormatDuration(options_.window), " window, or evicted (the newest ",
                   options_.max_jobs, " jobs are kept)"));
}

absl::StatusOr<absl::Time> JobTracker::CreatedAt(const std::string& job_id) const {
  common::MutexLock lock(&mu_);
  const Job* job = Known(job_id);
  if (job == nullptr) return NotKnown(job_id);
  return job->created_at;
}

absl::StatusOr<cdnwarm::v1::Job> JobTracker::Get(const std::string& job_id) const {
  common::MutexLock lock(&mu_);
  const Job* found = Known(job_id);
  if (found == nullptr) return NotKnown(job_id);
  return ToProto(job_id, *found);
}

absl::StatusOr<std::vector<cdnwarm::v1::Job>> JobTracker::List(const std::string& after,
                                                               size_t limit, bool* more) const {
  common::MutexLock lock(&mu_);
  auto it = order_.rbegin();
  if (!after.empty()) {
    it = std::find(order_.rbegin(), order_.rend(), after);
    if (it == order_.rend() || Known(after) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "page_token: job \"", after, "\" is not known any more (evicted); list again"));
    }
    ++it;
  }
  std::vector<cdnwarm::v1::Job> out;
  *more = false;
  for (; it != order_.rend(); ++it) {
    const Job* job = Known(*it);
    if (job == nullptr) continue;  // results seen before its tasks
    if (out.size() == limit) {
      *more = true;
      break;
    }
    out.push_back(ToProto(*it, *job));
  }
  return out;
}

cdnwarm::v1::Job JobTracker::ToProto(const std::string& job_id, const Job& job) const {
  cdnwarm::v1::Job out;
  out.set_job_id(job_id);
  out.set_total_tasks(job.tasks.size());
  if (job.created_at != absl::InfiniteFuture())
    *out.mutable_created_at() = common::ToProtoTimestamp(job.created_at);
  if (job.updated_at != absl::InfinitePast())
    *out.mutable_updated_at() = common::ToProtoTimestamp(job.updated_at);

  std::set<std::string> regions(options_.regions.begin(), options_.regions.end());
  for (const auto& [region, finished] : job.results) regions.insert(region);
  bool all_done = !regions.empty();
  static const Job::Finished kNone;
  for (const std::string& region : regions) {
    auto r = job.results.find(region);
    const auto& finished = r == job.results.end() ? kNone : r->second;
    cdnwarm::v1::RegionProgress* p = out.add_regions();
    p->set_region(region);
    uint64_t counted = 0;
    for (const auto& [index, outcome] : finished) {
      if (job.tasks.count(index) == 0) continue;  // its task record has not been read yet
      ++counted;
      switch (outcome) {
        case cdnwarm::v1::OUTCOME_WARMED:
          p->set_warmed(p->warmed() + 1);
          break;
        case cdnwarm::v1::OUTCOME_COALESCED:
          p->set_coalesced(p->coalesced() + 1);
          break;
        case cdnwarm::v1::OUTCOME_UNVERIFIED:
          p->set_unverified(p->unverified() + 1);
          break;
        case cdnwarm::v1::OUTCOME_EXPIRED:
          p->set_expired(p->expired() + 1);
          break;
        case cdnwarm::v1::OUTCOME_SKIPPED:
          p->set_skipped(p->skipped() + 1);
          break;
        default:
          p->set_failed(p->failed() + 1);
          break;
      }
    }
    auto hits = job.verified_hits.find(region);
    if (hits != job.verified_hits.end()) p->set_verified_hits(hits->second);
    p->set_pending(job.tasks.size() - counted);
    p->set_done(p->pending() == 0);
    all_done = all_done && p->done();
  }
  out.set_done(all_done);
  if (job.truncated.has_value()) *out.mutable_truncated() = *job.truncated;
  return out;
}

uint64_t JobTracker::Watch(const std::string& job_id, std::function<void()> on_change) {
  common::MutexLock lock(&mu_);
  const uint64_t handle = next_watch_++;
  watchers_.emplace(handle, std::make_pair(job_id, std::move(on_change)));
  return handle;
}

void JobTracker::Unwatch(uint64_t handle) {
  common::MutexLock lock(&mu_);
  watchers_.erase(handle);
}

std::vector<std::function<void()>> JobTracker::WatchersOf(const std::string& job_id) const {
  std::vector<std::function<void()>> out;
  for (const auto& [handle, w] : watchers_) {
    if (w.first == job_id) out.push_back(w.second);
  }
  return out;
}

size_t JobTracker::job_count() const {
  common::MutexLock lock(&mu_);
  return jobs_.size();
}

}  // namespace cdnwarm::producer
