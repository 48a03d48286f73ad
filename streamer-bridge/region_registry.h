#pragma once

// The one owner of the regions on this replica: each Region and its RegionConsumer (the
// replica's membership of the region's consumer group), and which stream subscribes to
// which region.
//
// Lifetime rule. A region exists from the Subscribe that first needs it until either
//   (a) DropIdle finds it without a subscriber for `idle_grace` (the janitor), or
//   (b) LeaveAll (SIGTERM, after StopAll);
// both remove it under `mu_`. A stream is handed to a region (AddSubscriber) only in
// Subscribe, in the same critical section as the lookup or creation, so no Subscribe
// registers with a region being dropped; and it is taken back (RemoveSubscriber in
// StreamDone, or DetachSubscribers in StopAll) under `mu_` before gRPC deletes it. So no
// region ever Sends to a deleted stream. Whoever needs a region past `mu_` (a seek) holds
// its shared pointers (Hold); a dropped region is destroyed only once those are released.
// Consumers commit and leave their groups outside `mu_`.
//
// Lock order: RegionRegistry::mu_, then Region::mu_, then SubscribeStream::mu_.
// RegionConsumer::mu_ is taken under RegionRegistry::mu_ (ListSubscriptions' partitions)
// and under Region::mu_ never; SeekCoordinator::mu_ is held around no call at all.
// Callbacks given to WithRegion and ForEach run under `mu_` and must not call back in here.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/core/metrics.h"
#include "common/core/sync.h"
#include "grpcpp/support/status.h"
#include "streamer-bridge/region.h"
#include "streamer-bridge/region_consumer.h"

namespace cdnwarm::bridge {

class SubscribeStream;

struct RegistryOptions {
  std::string replica;
  std::string group_prefix;
  std::string instance;
  ConsumerOptions consumer;  // group filled per region
  RegionOptions region;      // region and replica filled per region
  absl::Duration idle_grace = absl::Seconds(10);
};

class RegionRegistry {
 public:
  // A region's parts, held past the registry's lock.
  struct Held {
    std::shared_ptr<Region> region;
    std::shared_ptr<RegionConsumer> consumer;
  };

  RegionRegistry(RegistryOptions options, ResultSink& results, metrics::Registry& registry);
  // Every region left: finished work committed, groups left.
  ~RegionRegistry();

  // Finds or creates `region` (joining its group) and registers `stream` as subscriber
  // `subscriber_id`, in one critical section. UNAVAILABLE while draining or when the group
  // cannot be joined; ALREADY_EXISTS for a subscriber id with a live stream. On failure
  // the stream was not registered and stays the caller's.
  absl::Status Subscribe(const std::string& region, const std::string& subscriber_id,
                         uint32_t max_outstanding, absl::Duration ack_deadline,
                         const std::string& peer, SubscribeStream* stream);
  // The stream's OnDone: its region forgets it (its deliveries go to the others).
  void StreamDone(SubscribeStream* stream);

  // Runs `f` on the region under the lock; false when the region is not here.
  bool WithRegion(const std::string& region, const std::function<void(Region&)>& f);
  // The region's parts for use past the lock; nullopt when the region is not here.
  std::optional<Held> Hold(const std::string& region);
  // Every region, in name order, under the lock.
  void ForEach(const std::function<void(const std::string& name, Region& region,
                                        RegionConsumer& consumer)>& f);

  // The janitor's step: regions without a subscriber for idle_grace leave their groups.
  // Returns their names. Does nothing once StopAll has run.
  std::vector<std::string> DropIdle(absl::Time now);

  // SIGTERM, step one: no more subscriptions; every region forgets its streams (their
  // deliveries stay outstanding, so acks still find them) and the streams end with `end`.
  // Returns the regions, for the caller to watch what is outstanding.
  std::vector<std::shared_ptr<Region>> StopAll(const grpc::Status& end);
  // Step two: every region leaves its group (commits what is finished), all at once, each
  // within its consumer's close_timeout. Idempotent.
  void LeaveAll();

 private:
  struct Runtime {
    std::shared_ptr<Region> region;
    // Shared so a seek in progress keeps both alive if the region is dropped meanwhile
    // (the consumer refers to its region).
    std::shared_ptr<RegionConsumer> consumer;
    absl::Time idle_since = absl::InfiniteFuture();
  };
  // The region's runtime, created (and its group joined) if needed.
  absl::StatusOr<Runtime*> FindOrJoinLocked(const std::string& region)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RegistryOptions options_;
  ResultSink& results_;
  metrics::Registry& metrics_;

  common::Mutex mu_;
  std::map<std::string, Runtime> regions_ ABSL_GUARDED_BY(mu_);
  std::map<SubscribeStream*, std::string> streams_ ABSL_GUARDED_BY(mu_);  // stream -> region
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace cdnwarm::bridge
