#include "producer/watch_reactor.h"

#include <utility>
#include <vector>

#include "common/core/grpc_status.h"

namespace cdnwarm::producer {

void Watches::Add(std::shared_ptr<WatchReactor> watch) {
  common::MutexLock lock(&mu_);
  const WatchReactor* key = watch.get();
  open_.emplace(key, std::move(watch));
}

std::shared_ptr<WatchReactor> Watches::Remove(const WatchReactor* watch) {
  common::MutexLock lock(&mu_);
  auto it = open_.find(watch);
  if (it == open_.end()) return nullptr;
  std::shared_ptr<WatchReactor> owner = std::move(it->second);
  open_.erase(it);
  return owner;
}

void Watches::Tick(absl::Time now) {
  std::vector<std::shared_ptr<WatchReactor>> watches;
  {
    common::MutexLock lock(&mu_);
    for (const auto& [key, watch] : open_) watches.push_back(watch);
  }
  for (auto& w : watches) w->Tick(now);
}

WatchReactor::WatchReactor(RpcContext& rpc, JobTracker& tracker, Watches& watches,
                           std::string job_id, absl::Duration min_interval)
    : QueuedWriter("the watcher went away"),
      rpc_(rpc),
      tracker_(tracker),
      watches_(watches),
      job_id_(std::move(job_id)),
      min_interval_(min_interval) {}

void WatchReactor::Start(const std::shared_ptr<WatchReactor>& self) {
  std::weak_ptr<WatchReactor> weak = self;
  watch_ = tracker_.Watch(job_id_, [weak] {
    if (auto w = weak.lock()) w->changed_ = true;
  });
  StartWriting();
}

void WatchReactor::Tick(absl::Time now) {
  if (!Idle()) return;
  if (rpc_.draining()) {
    End(common::ToGrpcStatus(
        absl::UnavailableError("producer is shutting down; watch again elsewhere")));
    return;
  }
  if (!changed_ || now < next_send_) return;
  changed_ = false;
  absl::StatusOr<cdnwarm::v1::Job> job = tracker_.Get(job_id_);
  if (!job.ok()) {
    End(common::ToGrpcStatus(job.status()));
    return;
  }
  next_send_ = now + min_interval_;
  const bool done = job->done();
  Enqueue(*std::move(job));
  if (done) EndAfterQueue(grpc::Status::OK);
}

void WatchReactor::OnDone() {
  tracker_.Unwatch(watch_);
  // May be the last owner: the object goes when this returns.
  std::shared_ptr<WatchReactor> keep = watches_.Remove(this);
}

}  // namespace cdnwarm::producer
