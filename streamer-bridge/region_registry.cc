#include "streamer-bridge/region_registry.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "common/core/log.h"
#include "common/core/naming.h"
#include "common/core/sync.h"
#include "streamer-bridge/subscribe_stream.h"

namespace cdnwarm::bridge {

RegionRegistry::RegionRegistry(RegistryOptions options, ResultSink& results,
                               metrics::Registry& registry)
    : options_(std::move(options)), results_(results), metrics_(registry) {}

RegionRegistry::~RegionRegistry() { LeaveAll(); }

absl::StatusOr<RegionRegistry::Runtime*> RegionRegistry::FindOrJoinLocked(
    const std::string& region) {
  auto it = regions_.find(region);
  if (it != regions_.end()) return &it->second;
  absl::StatusOr<std::string> group =
      common::RegionGroup(options_.group_prefix, region, options_.instance);
  if (!group.ok()) return group.status();
  RegionOptions ro = options_.region;
  ro.region = region;
  ro.replica = options_.replica;
  Runtime rt;
  rt.region = std::make_shared<Region>(ro, results_);
  ConsumerOptions co = options_.consumer;
  co.group = *group;
  absl::StatusOr<std::unique_ptr<RegionConsumer>> consumer =
      RegionConsumer::Start(co, *rt.region, metrics_);
  if (!consumer.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot join the region's consumer group: ", consumer.status().message()));
  }
  rt.consumer = *std::move(consumer);
  log::Info("region joined", {{"region", region}, {"group", co.group}});
  return &regions_.emplace(region, std::move(rt)).first->second;
}

absl::Status RegionRegistry::Subscribe(const std::string& region, const std::string& subscriber_id,
                                       uint32_t max_outstanding, absl::Duration ack_deadline,
                                       const std::string& peer, SubscribeStream* stream) {
  common::MutexLock lock(&mu_);
  if (draining_) return absl::UnavailableError("bridge is draining; subscribe to another replica");
  absl::StatusOr<Runtime*> rt = FindOrJoinLocked(region);
  if (!rt.ok()) return rt.status();
  absl::Status s =
      (*rt)->region->AddSubscriber(subscriber_id, max_outstanding, ack_deadline, peer, stream);
  if (!s.ok()) return s;
  streams_[stream] = region;
  (*rt)->idle_since = absl::InfiniteFuture();
  return absl::OkStatus();
}

void RegionRegistry::StreamDone(SubscribeStream* stream) {
  common::MutexLock lock(&mu_);
  auto it = regions_.find(stream->region());
  if (it != regions_.end()) {
    it->second.region->RemoveSubscriber(stream->subscriber_id(), stream, stream->TakeNeverSent());
  }
  streams_.erase(stream);
}

bool RegionRegistry::WithRegion(const std::string& region, const std::function<void(Region&)>& f) {
  common::MutexLock lock(&mu_);
  auto it = regions_.find(region);
  if (it == regions_.end()) return false;
  f(*it->second.region);
  return true;
}

std::optional<RegionRegistry::Held> RegionRegistry::Hold(const std::string& region) {
  common::MutexLock lock(&mu_);
  auto it = regions_.find(region);
  if (it == regions_.end()) return std::nullopt;
  return Held{it->second.region, it->second.consumer};
}

void RegionRegistry::ForEach(
    const std::function<void(const std::string&, Region&, RegionConsumer&)>& f) {
  common::MutexLock lock(&mu_);
  for (auto& [name, rt] : regions_) f(name, *rt.region, *rt.consumer);
}

std::vector<std::string> RegionRegistry::DropIdle(absl::Time now) {
  std::vector<std::string> names;
  std::vector<Runtime> gone;
  {
    common::MutexLock lock(&mu_);
    if (draining_) return names;  // LeaveAll owns the regions' end
    for (auto it = regions_.begin(); it != regions_.end();) {
      Runtime& rt = it->second;
      if (rt.region->subscriber_count() > 0) {
        rt.idle_since = absl::InfiniteFuture();
      } else if (rt.idle_since == absl::InfiniteFuture()) {
        rt.idle_since = now;
      } else if (now - rt.idle_since >= options_.idle_grace) {
        log::Info("region left: no subscriber", {{"region", it->first}});
        names.push_back(it->first);
        gone.push_back(std::move(rt));
        it = regions_.erase(it);
        continue;
      }
      ++it;
    }
  }
  for (Runtime& rt : gone) rt.consumer.reset();  // commit and leave, outside the lock
  return names;
}

std::vector<std::shared_ptr<Region>> RegionRegistry::StopAll(const grpc::Status& end) {
  std::vector<std::shared_ptr<Region>> held;
  common::MutexLock lock(&mu_);
  draining_ = true;
  // Regions forget every stream first, so none Sends to a stream after its OnDone; then
  // the streams end.
  for (auto& [name, rt] : regions_) {
    rt.region->DetachSubscribers();
    held.push_back(rt.region);
  }
  for (auto& [stream, region] : streams_) stream->End(end);
  return held;
}

void RegionRegistry::LeaveAll() {
  std::map<std::string, Runtime> regions;
  {
    common::MutexLock lock(&mu_);
    draining_ = true;
    regions.swap(regions_);
  }
  // Every region commits what is finished and leaves its group at once: each close waits
  // for Kafka up to its close_timeout, and one slow region does not hold up the others.
  std::vector<std::thread> leaving;
  leaving.reserve(regions.size());
  for (auto& [name, rt] : regions) {
    leaving.emplace_back([consumer = std::move(rt.consumer)]() mutable { consumer.reset(); });
  }
  for (std::thread& t : leaving) t.join();
}

}  // namespace cdnwarm::bridge
