#pragma once

// cdnwarm.v1.Bridge on gRPC's callback API: checks and routes each call to the region it
// names. The regions on this replica (and their consumer-group memberships) belong to a
// RegionRegistry, whose header states their lifetime rule and the lock order; a region
// with no subscriber for `idle_grace` leaves its group so Kafka moves its partitions to
// replicas that can deliver them. Kafka produce calls (results) happen under Region::mu_;
// they never wait on these locks.

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
#include "common/core/bearer_auth.h"
#include "common/core/metrics.h"
#include "streamer-bridge/bridge_auth.h"
#include "streamer-bridge/known_regions.h"
#include "streamer-bridge/region.h"
#include "streamer-bridge/region_consumer.h"
#include "streamer-bridge/region_registry.h"
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
  // `seek` carries Seek to every replica; null: Seek is UNIMPLEMENTED here. `known`: the
  // deployment's regions (Subscribe refuses others, ListSubscriptions lists each); null:
  // any region.
  BridgeService(BridgeOptions options, ResultSink& results, metrics::Registry& registry,
                SeekCoordinator* seek = nullptr, const KnownRegions* known = nullptr);
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
                                                  const std::string& group, absl::Time deadline);

  grpc::ServerWriteReactor<cdnwarm::v1::Delivery>* Subscribe(
      grpc::CallbackServerContext* ctx, const cdnwarm::v1::SubscribeRequest* request) override;
  grpc::ServerWriteReactor<cdnwarm::v1::DeliveryBatch>* SubscribeBatched(
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
  // The janitor's metrics of one region (janitor thread only).
  void SampleMetrics(const std::string& name, Region& region);

  // Subscribe and SubscribeBatched: checks the request, registers a new stream with its
  // region and starts it; the error (counted) when refused.
  absl::StatusOr<SubscribeStream*> Open(grpc::CallbackServerContext* ctx,
                                        const cdnwarm::v1::SubscribeRequest& request, bool batched);
  // Region of an ack id issued by this replica, or empty.
  std::string RegionOfAckId(const std::string& ack_id) const;
  // A stream's OnDone: its region forgets it (its deliveries go to the others).
  void StreamDone(SubscribeStream* stream);
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
  const KnownRegions* const known_;
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

  const BridgeAuth auth_;  // from options_.region_tokens and options_.operator_auth
  RegionRegistry regions_;
  // Counts already added to the counters, per region (janitor thread only).
  std::map<std::string, std::pair<uint64_t, uint64_t>> seen_;  // redeliveries, dead letters
  std::atomic<bool> drained_{false};
  std::atomic<bool> stop_{false};
  std::thread janitor_;
};

}  // namespace cdnwarm::bridge
