#include "streamer-bridge/bridge_service.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/core/contract.h"
#include "common/core/grpc_status.h"
#include "common/core/log.h"
#include "common/core/naming.h"
#include "common/core/proto_time.h"
#include "streamer-bridge/subscribe_stream.h"

namespace cdnwarm::bridge {
namespace {

constexpr size_t kMaxSubscriberIdBytes = 128;
constexpr int kMaxAckEntries = 1000;
constexpr absl::Duration kDefaultAckDeadline = absl::Seconds(60);

absl::Status CheckSubscriberId(const std::string& id) {
  if (id.empty() || id.size() > kMaxSubscriberIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("subscriber_id: must be 1..", kMaxSubscriberIdBytes, " bytes"));
  }
  for (char c : id) {
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) {
      return absl::InvalidArgumentError("subscriber_id: printable ASCII without spaces only");
    }
  }
  return absl::OkStatus();
}

// A region name and subscriber id as Subscribe and Drain take them; errors name the field.
absl::Status CheckSubscription(const std::string& region, const std::string& subscriber_id) {
  if (absl::Status s = common::ValidateRegion(region); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("region: ", s.message()));
  }
  return CheckSubscriberId(subscriber_id);
}

}  // namespace

BridgeService::BridgeService(BridgeOptions options, ResultSink& results,
                             metrics::Registry& registry, SeekCoordinator* seek,
                             const KnownRegions* known)
    : options_(std::move(options)),
      results_(results),
      seek_(seek),
      known_(known),
      registry_(registry),
      rpcs_(registry.AddCounter("cdnwarm_bridge_rpcs_total", "Bridge RPCs by method and code",
                                {"rpc", "code"})),
      ack_statuses_(registry.AddCounter("cdnwarm_bridge_ack_statuses_total",
                                        "Ack and deadline entries by answer", {"status"})),
      outstanding_(registry.AddGauge("cdnwarm_bridge_outstanding",
                                     "Unacknowledged deliveries, by region", {"region"})),
      buffered_(registry.AddGauge("cdnwarm_bridge_buffered",
                                  "Tasks waiting for credit or a retry time, by region",
                                  {"region"})),
      oldest_unacked_(registry.AddGauge("cdnwarm_bridge_oldest_unacked_seconds",
                                        "Age of the oldest unacknowledged delivery, by region",
                                        {"region"})),
      redeliveries_(registry.AddCounter("cdnwarm_bridge_redeliveries_total",
                                        "Deliveries made again (nack, deadline, ended stream)",
                                        {"region"})),
      dead_letters_(registry.AddCounter("cdnwarm_bridge_dead_letters_total",
                                        "Tasks sent to the dead-letter topic", {"region"})),
      subscribers_(registry.AddGauge("cdnwarm_bridge_subscribers", "Live subscribers, by region",
                                     {"region"})),
      auth_(options_.region_tokens, options_.operator_auth),
      regions_(RegistryOptions{.replica = options_.replica,
                               .group_prefix = options_.group_prefix,
                               .instance = options_.instance,
                               .consumer = options_.consumer,
                               .region = options_.region,
                               .idle_grace = options_.idle_grace},
               results, registry) {
  janitor_ = std::thread([this] { Janitor(); });
}

BridgeService::~BridgeService() {
  stop_ = true;
  janitor_.join();
  DrainAll(absl::ZeroDuration());
}

absl::StatusOr<SubscribeStream*> BridgeService::Open(grpc::CallbackServerContext* ctx,
                                                     const cdnwarm::v1::SubscribeRequest& request,
                                                     bool batched) {
  const char* rpc = batched ? "SubscribeBatched" : "Subscribe";
  absl::Status bad = CheckSubscription(request.region(), request.subscriber_id());
  if (bad.ok() && known_ != nullptr) bad = known_->Check(request.region());
  if (bad.ok() &&
      (request.max_outstanding() < 1 || request.max_outstanding() > options_.max_credit)) {
    bad = absl::InvalidArgumentError(absl::StrCat("max_outstanding: ", request.max_outstanding(),
                                                  " is not 1..", options_.max_credit));
  }
  absl::Duration deadline = common::FromProtoDuration(request.ack_deadline());
  if (deadline == absl::ZeroDuration()) deadline = kDefaultAckDeadline;
  if (bad.ok() && (deadline < absl::Seconds(1) || deadline > common::kMaxAckDeadline)) {
    bad = absl::InvalidArgumentError("ack_deadline: must be between 1s and 10m");
  }
  if (bad.ok()) bad = auth_.Subscriber(*ctx, request.region());

  // The registry looks the region up (or joins it) and registers the stream in one
  // critical section: the janitor cannot drop the region in between, and of two Subscribes
  // with one id exactly one wins.
  SubscribeStream* stream = nullptr;
  if (bad.ok()) {
    stream = SubscribeStream::New(batched, request.region(), request.subscriber_id(),
                                  [this](SubscribeStream* s) { regions_.StreamDone(s); });
    bad = regions_.Subscribe(request.region(), request.subscriber_id(), request.max_outstanding(),
                             deadline, ctx->peer(), stream);
    if (!bad.ok()) {
      delete stream;  // never handed to gRPC
      stream = nullptr;
    }
  }
  if (!bad.ok()) {
    rpcs_.Labels({rpc, absl::StatusCodeToString(bad.code())}).Increment();
    return bad;
  }
  ctx->AddInitialMetadata(common::kSubscriptionMetadata,
                          absl::StrCat(options_.replica, "/", request.subscriber_id()));
  stream->Start();
  rpcs_.Labels({rpc, "OK"}).Increment();
  return stream;
}

namespace {

// A reactor that only reports why a subscription was refused.
template <typename Message>
class Refusal final : public grpc::ServerWriteReactor<Message> {
 public:
  explicit Refusal(const absl::Status& s) { this->Finish(common::ToGrpcStatus(s)); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerWriteReactor<cdnwarm::v1::Delivery>* BridgeService::Subscribe(
    grpc::CallbackServerContext* ctx, const cdnwarm::v1::SubscribeRequest* request) {
  absl::StatusOr<SubscribeStream*> stream = Open(ctx, *request, false);
  if (!stream.ok()) return new Refusal<cdnwarm::v1::Delivery>(stream.status());
  return (*stream)->single();
}

grpc::ServerWriteReactor<cdnwarm::v1::DeliveryBatch>* BridgeService::SubscribeBatched(
    grpc::CallbackServerContext* ctx, const cdnwarm::v1::SubscribeRequest* request) {
  absl::StatusOr<SubscribeStream*> stream = Open(ctx, *request, true);
  if (!stream.ok()) return new Refusal<cdnwarm::v1::DeliveryBatch>(stream.status());
  return (*stream)->batched();
}

std::string BridgeService::RegionOfAckId(const std::string& ack_id) const {
  AckIdParts parts;
  return ParseAckId(ack_id, options_.replica, &parts) ? std::string(parts.region) : "";
}

absl::StatusOr<std::vector<cdnwarm::v1::AckStatus>> BridgeService::Route(
    const grpc::CallbackServerContext& ctx, const std::vector<std::string>& ack_ids,
    absl::string_view field, const RegionApply& apply) {
  if (ack_ids.empty() || ack_ids.size() > static_cast<size_t>(kMaxAckEntries)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": 1..", kMaxAckEntries, " required, got ", ack_ids.size()));
  }
  // Ids that are not this replica's stay INVALID.
  std::vector<cdnwarm::v1::AckStatus> out(ack_ids.size(), cdnwarm::v1::ACK_STATUS_INVALID);
  std::map<std::string, std::vector<int>> by_region;
  for (size_t i = 0; i < ack_ids.size(); ++i) {
    const std::string region = RegionOfAckId(ack_ids[i]);
    if (!region.empty()) by_region[region].push_back(static_cast<int>(i));
  }
  for (const auto& [region, indices] : by_region) {
    if (absl::Status s = auth_.Subscriber(ctx, region); !s.ok()) return s;
  }
  for (const auto& entry : by_region) {
    // Not a structured binding: clang 14 (the fuzz build) cannot capture one in a lambda.
    const std::string& region = entry.first;
    const std::vector<int>& indices = entry.second;
    // A region no longer here (dropped, or drained): its deliveries are gone.
    std::vector<cdnwarm::v1::AckStatus> statuses(indices.size(), cdnwarm::v1::ACK_STATUS_STALE);
    regions_.WithRegion(region, [&](Region& r) { statuses = apply(r, indices); });
    for (size_t j = 0; j < indices.size(); ++j) out[indices[j]] = statuses[j];
  }
  return out;
}

grpc::ServerUnaryReactor* BridgeService::Ack(grpc::CallbackServerContext* ctx,
                                             const cdnwarm::v1::AckRequest* request,
                                             cdnwarm::v1::AckReply* reply) {
  std::vector<std::string> ids;
  for (const auto& e : request->entries()) ids.push_back(e.ack_id());
  absl::StatusOr<std::vector<cdnwarm::v1::AckStatus>> statuses =
      Route(*ctx, ids, "entries", [request](Region& region, const std::vector<int>& indices) {
        // A subscriber's acks are for its one region: the request as it came, uncopied.
        if (indices.size() == static_cast<size_t>(request->entries_size())) {
          return region.Ack(*request);
        }
        cdnwarm::v1::AckRequest part;
        part.set_subscriber_id(request->subscriber_id());
        for (int i : indices) *part.add_entries() = request->entries(i);
        return region.Ack(part);
      });
  if (statuses.ok()) {
    for (auto s : *statuses) {
      reply->add_statuses(s);
      ack_statuses_.Labels({cdnwarm::v1::AckStatus_Name(s)}).Increment();
    }
  }
  rpcs_.Labels({"Ack", absl::StatusCodeToString(statuses.status().code())}).Increment();
  auto* r = ctx->DefaultReactor();
  r->Finish(common::ToGrpcStatus(statuses.status()));
  return r;
}

grpc::ServerUnaryReactor* BridgeService::ModifyAckDeadline(
    grpc::CallbackServerContext* ctx, const cdnwarm::v1::ModifyAckDeadlineRequest* request,
    cdnwarm::v1::AckReply* reply) {
  const std::vector<std::string> ids(request->ack_ids().begin(), request->ack_ids().end());
  absl::StatusOr<std::vector<cdnwarm::v1::AckStatus>> statuses =
      Route(*ctx, ids, "ack_ids", [request](Region& region, const std::vector<int>& indices) {
        cdnwarm::v1::ModifyAckDeadlineRequest part;
        part.set_subscriber_id(request->subscriber_id());
        *part.mutable_ack_deadline() = request->ack_deadline();
        for (int i : indices) part.add_ack_ids(request->ack_ids(i));
        return region.Extend(part);
      });
  if (statuses.ok()) {
    for (auto s : *statuses) reply->add_statuses(s);
  }
  rpcs_.Labels({"ModifyAckDeadline", absl::StatusCodeToString(statuses.status().code())})
      .Increment();
  auto* r = ctx->DefaultReactor();
  r->Finish(common::ToGrpcStatus(statuses.status()));
  return r;
}

grpc::ServerUnaryReactor* BridgeService::Drain(grpc::CallbackServerContext* ctx,
                                               const cdnwarm::v1::DrainRequest* request,
                                               cdnwarm::v1::DrainReply*) {
  absl::Status s = CheckSubscription(request->region(), request->subscriber_id());
  if (s.ok()) s = auth_.Subscriber(*ctx, request->region());
  if (s.ok() && !regions_.WithRegion(request->region(), [&](Region& region) {
        s = region.StopDelivering(request->subscriber_id());
      })) {
    s = absl::NotFoundError(
        absl::StrCat("region ", request->region(), " has no subscriber on this bridge"));
  }
  if (s.ok()) {
    log::Info("subscriber draining",
              {{"region", request->region()}, {"subscriber", request->subscriber_id()}});
  }
  rpcs_.Labels({"Drain", absl::StatusCodeToString(s.code())}).Increment();
  auto* r = ctx->DefaultReactor();
  r->Finish(common::ToGrpcStatus(s));
  return r;
}

grpc::ServerUnaryReactor* BridgeService::ListSubscriptions(
    grpc::CallbackServerContext* ctx, const cdnwarm::v1::ListSubscriptionsRequest* request,
    cdnwarm::v1::ListSubscriptionsReply* reply) {
  auto* r = ctx->DefaultReactor();
  if (absl::Status s = auth_.Operator(*ctx); !s.ok()) {
    rpcs_.Labels({"ListSubscriptions", absl::StatusCodeToString(s.code())}).Increment();
    r->Finish(common::ToGrpcStatus(s));
    return r;
  }
  reply->set_replica(options_.replica);
  std::map<std::string, cdnwarm::v1::RegionInfo> listed;
  regions_.ForEach([&](const std::string& name, Region& region, RegionConsumer& consumer) {
    if (!request->region().empty() && request->region() != name) return;
    cdnwarm::v1::RegionInfo info = region.Info();
    absl::StatusOr<std::string> group =
        common::RegionGroup(options_.group_prefix, name, options_.instance);
    info.set_group(group.ok() ? *group : "");
    info.set_joined(true);
    for (auto& p : consumer.Partitions()) {
      p.set_replica(options_.replica);
      *info.add_partitions() = std::move(p);
    }
    listed[name] = std::move(info);
  });
  // Known regions with no consumer here: their group's position, as the cluster has it.
  for (const std::string& name :
       known_ != nullptr ? known_->regions() : std::vector<std::string>()) {
    if ((!request->region().empty() && request->region() != name) || listed.count(name) > 0) {
      continue;
    }
    cdnwarm::v1::RegionInfo& info = listed[name];
    info.set_region(name);
    absl::StatusOr<std::string> group =
        common::RegionGroup(options_.group_prefix, name, options_.instance);
    info.set_group(group.ok() ? *group : "");
    for (auto& p : known_->Positions(name)) *info.add_partitions() = std::move(p);
  }
  for (auto& [name, info] : listed) *reply->add_regions() = std::move(info);
  rpcs_.Labels({"ListSubscriptions", "OK"}).Increment();
  r->Finish(grpc::Status::OK);
  return r;
}

grpc::ServerUnaryReactor* BridgeService::Seek(grpc::CallbackServerContext* ctx,
                                              const cdnwarm::v1::SeekRequest* request,
                                              cdnwarm::v1::SeekReply* reply) {
  auto* r = ctx->DefaultReactor();
  absl::Status s = common::ValidateRegion(request->region());
  if (!s.ok()) s = absl::InvalidArgumentError(absl::StrCat("region: ", s.message()));
  if (s.ok() && request->position_case() == cdnwarm::v1::SeekRequest::POSITION_NOT_SET) {
    s = absl::InvalidArgumentError("position: one of earliest, latest or timestamp is required");
  }
  if (s.ok()) s = auth_.Operator(*ctx);
  absl::StatusOr<std::string> group =
      common::RegionGroup(options_.group_prefix, request->region(), options_.instance);
  if (s.ok()) s = group.status();
  if (s.ok() && seek_ == nullptr) s = absl::UnimplementedError("seek is not set up here");
  if (!s.ok()) {
    rpcs_.Labels({"Seek", absl::StatusCodeToString(s.code())}).Increment();
    r->Finish(common::ToGrpcStatus(s));
    return r;
  }
  // Answered from the coordinator's thread once every replica's share is in: no gRPC
  // thread waits for Kafka.
  seek_->Seek(*request, *std::move(group), absl::FromChrono(ctx->deadline()),
              [this, r, reply](absl::StatusOr<std::vector<cdnwarm::v1::PartitionInfo>> moved) {
                if (moved.ok()) {
                  for (auto& p : *moved) *reply->add_partitions() = std::move(p);
                }
                rpcs_.Labels({"Seek", absl::StatusCodeToString(moved.status().code())}).Increment();
                r->Finish(common::ToGrpcStatus(moved.status()));
              });
  return r;
}

std::optional<cdnwarm::v1::SeekReport> BridgeService::SeekHere(
    const cdnwarm::v1::SeekRequest& request, const std::string& group, absl::Time deadline) {
  if (absl::StatusOr<std::string> mine =
          common::RegionGroup(options_.group_prefix, request.region(), options_.instance);
      !mine.ok() || *mine != group) {
    return std::nullopt;
  }
  // Held, not borrowed: the janitor or DrainAll may drop the region during the seek.
  const std::optional<RegionRegistry::Held> held = regions_.Hold(request.region());
  if (!held) return std::nullopt;
  cdnwarm::v1::SeekReport report = held->consumer->Seek(request, deadline);
  for (cdnwarm::v1::PartitionInfo& p : *report.mutable_moved()) p.set_replica(options_.replica);
  return report;
}

void BridgeService::Janitor() {
  while (!stop_) {
    regions_.ForEach([this](const std::string& name, Region& region, RegionConsumer&) {
      SampleMetrics(name, region);
    });
    for (const std::string& name : regions_.DropIdle(absl::Now())) seen_.erase(name);
    absl::SleepFor(absl::Milliseconds(200));  // a period, not synchronisation
  }
}

void BridgeService::SampleMetrics(const std::string& name, Region& region) {
  const cdnwarm::v1::RegionInfo info = region.Info();
  outstanding_.Labels({name}).Set(static_cast<double>(info.outstanding()));
  buffered_.Labels({name}).Set(static_cast<double>(info.buffered()));
  oldest_unacked_.Labels({name}).Set(
      absl::ToDoubleSeconds(common::FromProtoDuration(info.oldest_unacked_age())));
  subscribers_.Labels({name}).Set(info.subscribers_size());
  auto& [redeliveries_seen, dead_letters_seen] = seen_[name];
  redeliveries_.Labels({name}).Increment(
      static_cast<double>(info.redeliveries() - redeliveries_seen));
  dead_letters_.Labels({name}).Increment(
      static_cast<double>(info.dead_letters() - dead_letters_seen));
  redeliveries_seen = info.redeliveries();
  dead_letters_seen = info.dead_letters();
}

void BridgeService::DrainAll(absl::Duration ack_budget) {
  if (drained_.exchange(true)) return;
  const std::vector<std::shared_ptr<Region>> held = regions_.StopAll(
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "bridge is draining; reconnect"));
  // Acks of what the warmers hold keep coming (the server still takes calls during the
  // drain hooks): take them until nothing is outstanding or the budget is spent, so
  // finished work is committed here instead of done again by the next replica.
  const absl::Time deadline = absl::Now() + ack_budget;
  for (;;) {
    uint64_t outstanding = 0;
    for (const auto& r : held) outstanding += r->Info().outstanding();
    if (outstanding == 0 || absl::Now() >= deadline) break;
    absl::SleepFor(absl::Milliseconds(20));  // polling a count, bounded by the budget
  }
  // Then the results reach Kafka, and only then the commits and leaving the groups.
  results_.Flush(std::max(absl::Seconds(1), deadline - absl::Now()));
  regions_.LeaveAll();
}

}  // namespace cdnwarm::bridge
