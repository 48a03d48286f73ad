#pragma once

// cdnwarm.v1.Bridge on gRPC's callback API. Owns one Region (and its consumer group
// membership) per region that has a live subscriber on this replica; a region with no
// subscriber for `idle_grace` leaves its group so Kafka moves its partitions to replicas
// that can deliver them.
//
// Lifetimes. `regions_` is the one owner of every Region and RegionConsumer. A region is
// created by the Subscribe that first needs it and removed only (a) by the janitor, once it
// has had no subscriber for idle_grace, or (b) by DrainAll; both under `mu_`, and a region
// holds a stream's pointer (its DeliverySink) only from AddSubscriber, done under `mu_` in
// the same critical section as the lookup, to RemoveSubscriber (StreamDone, under `mu_`,
// before the stream is deleted) or DetachSubscribers (DrainAll). So no region outlives a
// Send target, and no Subscribe registers with a region the janitor is dropping.
//
// Lock order: BridgeService::mu_, then Region::mu_, then SubscribeStream::mu_. Kafka
// produce calls (results) happen under Region::mu_; they never wait on these locks.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cdnwarm/v1/bridge.grpc.pb.h"
#include "common/bearer_auth.h"
#include "common/metrics.h"
#include "streamer-bridge/region.h"
#include "streamer-bridge/region_consumer.h"
#include "streamer-bridge/seek_coordinator.h"

namespace cdnwarm::bridge {

class SubscribeStream;

struct BridgeOptions {
  std::string replica;       // appears in ack ids and ListSubscriptions
  std::string group_prefix;  // e.g. "cdnwarm.bridge"
  std::string instance;      // suffix of group names
  ConsumerOptions consumer;  // topic and Kafka settings; group filled per region
  RegionOptions region;      // region and replica filled per region
  absl::Duration idle_grace = absl::Seconds(10);
  uint32_t max_credit = 10000;
  // Region name -> bearer token its subscribers must send (Subscribe, Ack,
  // ModifyAckDeadline, Drain); empty map: no authorisation of subscribers.
  std::map<std::string, std::string> region_tokens;
  // The operators' bearer token: ListSubscriptions and Seek. Disabled: those are open only
  // when no region token is configured either, and refused otherwise.
  common::BearerAuth operator_auth;
};

class BridgeService final : public cdnwarm::v1::Bridge::CallbackService {
 public:
  // `seek` carries Seek to every replica; null: Seek is UNIMPLEMENTED here.
  BridgeService(BridgeOptions options, ResultSink& results, metrics::Registry& registry,
                SeekCoordinator* seek = nullptr);
  ~BridgeService() override;

  // SIGTERM: new subscriptions get UNAVAILABLE; no region dispatches any more; open
  // streams end with UNAVAILABLE; up to `ack_budget` is spent taking the acks of what is
  // still outstanding; then results are flushed to Kafka, finished work committed, and
  // every group left. What stays unacked stays uncommitted (redelivered where the
  // partitions move).
  void DrainAll(absl::Duration ack_budget);

  // This replica's share of a seek (the SeekCoordinator's LocalSeek): the partitions of
  // the region it holds; nullopt when the region has no consumer here or `group` is not
  // this deployment's group of the region.
  std::optional<cdnwarm::v1::SeekReport> SeekHere(const cdnwarm::v1::SeekRequest& request,
                                                  const std::string& group);

  grpc::ServerWriteReactor<cdnwarm::v1::Delivery>* Subscribe(
      grpc::CallbackServerContext* ctx, const cdnwarm::v1::SubscribeRequest* request) override;
  grpc::ServerUnaryReactor* Ack(grpc::CallbackServerContext* ctx,
                                const cdnwarm::v1::AckRequest* request,
                                cdnwarm::v1::AckReply* reply) override;
  grpc::ServerUnaryReactor* ModifyAckDeadline(grpc::CallbackServerContext* ctx,
                                              const cdnwarm::v1::ModifyAckDeadlineRequest* request,
                                              cdnwarm::v1::AckReply* reply) override;
  grpc::ServerUnaryReactor* Drain(grpc::CallbackServerContext* ctx,
                                  const cdnwarm::v1::DrainRequest* request,
                                  cdnwarm::v1::DrainReply* reply) override;
  grpc::ServerUnaryReactor* ListSubscriptions(grpc::CallbackServerContext* ctx,
                                              const cdnwarm::v1::ListSubscriptionsRequest* request,
                                              cdnwarm::v1::ListSubscriptionsReply* reply) override;
  grpc::ServerUnaryReactor* Seek(grpc::CallbackServerContext* ctx,
                                 const cdnwarm::v1::SeekRequest* request,
                                 cdnwarm::v1::SeekReply* reply) override;

 private:
  struct Runtime {
    std::shared_ptr<Region> region;
    // Shared so a Seek in progress keeps both alive if the janitor or DrainAll drops the
    // region meanwhile (the consumer refers to its region).
    std::shared_ptr<RegionConsumer> consumer;
    absl::Time idle_since = absl::InfiniteFuture();
    uint64_t redeliveries_seen = 0;  // for the counters' increments
    uint64_t dead_letters_seen = 0;
  };
  void SampleMetrics(const std::string& name, Runtime& rt) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Region of an ack id issued by this replica, or empty.
  std::string RegionOfAckId(const std::string& ack_id) const;
  // A stream's OnDone: its region forgets it (its deliveries go to the others).
  void StreamDone(SubscribeStream* stream);
  // A subscriber of `region`: its region's token.
  absl::Status Authorize(const grpc::CallbackServerContext& ctx, const std::string& region) const;
  // An operator (ListSubscriptions, Seek): the operator token; a region's token is not one.
  absl::Status AuthorizeOperator(const grpc::CallbackServerContext& ctx) const;
  void Janitor();
  // Splits ack ids by the region they name, applies each region's share (`apply` gets the
  // indices of its entries) and returns the statuses in request order.
  using RegionApply =
      std::function<std::vector<cdnwarm::v1::AckStatus>(Region&, const std::vector<int>&)>;
  absl::StatusOr<std::vector<cdnwarm::v1::AckStatus>> Route(const grpc::CallbackServerContext& ctx,
                                                            const std::vector<std::string>& ack_ids,
                                                            absl::string_view field,
                                                            const RegionApply& apply);

  const BridgeOptions options_;
  ResultSink& results_;
  SeekCoordinator* const seek_;
  metrics::Registry& registry_;
  metrics::Family<metrics::Counter>& rpcs_;
  metrics::Family<metrics::Counter>& ack_statuses_;
  // Per-region state, sampled by the janitor.
  metrics::Family<metrics::Gauge>& outstanding_;
  metrics::Family<metrics::Gauge>& buffered_;
  metrics::Family<metrics::Gauge>& oldest_unacked_;
  metrics::Family<metrics::Counter>& redeliveries_;
  metrics::Family<metrics::Counter>& dead_letters_;
  metrics::Family<metrics::Gauge>& subscribers_;

  std::map<std::string, common::BearerAuth> region_auth_;  // from options_.region_tokens
  mutable std::mutex mu_;
  std::map<std::string, Runtime> regions_ ABSL_GUARDED_BY(mu_);
  std::map<SubscribeStream*, std::string> streams_ ABSL_GUARDED_BY(mu_);  // stream -> region
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> stop_{false};
  std::thread janitor_;
};

}  // namespace cdnwarm::bridge
