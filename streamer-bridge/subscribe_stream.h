#pragma once

// One subscriber's stream, as the registry and its region see it, whichever call opened
// it: Subscribe (one Delivery per message) or SubscribeBatched (a DeliveryBatch of every
// delivery queued while the previous message was being written). Both are a
// common::BasicQueuedWriter of deliveries, written in order.
//
// Lifetime. gRPC owns the object from the handler's return until OnDone, which calls
// `on_done` (the owner forgets the stream there: no region may Send to it after) and
// deletes it. Finish is called exactly once, whichever way the stream ends: End, the
// client cancelling, or a write failing, in any order of OnCancel and OnWriteDone.
//
// Locking. The writer's lock is the innermost of the bridge (registry, then region, then
// stream): Send is called under a region's lock, and nothing here calls out while holding
// it.

#include <functional>
#include <string>
#include <vector>

#include "cdnwarm/v1/bridge.grpc.pb.h"
#include "grpcpp/support/status.h"
#include "streamer-bridge/region.h"

namespace cdnwarm::bridge {

class SubscribeStream : public DeliverySink {
 public:
  // `on_done` runs once, in OnDone, before the stream deletes itself.
  SubscribeStream(std::string region, std::string subscriber_id,
                  std::function<void(SubscribeStream*)> on_done);

  const std::string& region() const { return region_; }
  const std::string& subscriber_id() const { return subscriber_id_; }

  // Sends the initial metadata and starts writing what Send queued so far. Until then
  // Send only queues, so the stream can be registered under the owner's lock first.
  virtual void Start() = 0;
  // Ends with `status` once the write in flight is done; what is queued is never sent.
  virtual void End(const grpc::Status& status) = 0;
  // Ack ids that were queued but never written (dropped when the stream ended).
  virtual std::vector<std::string> TakeNeverSent() = 0;

  // The gRPC reactor to return from the handler.
  virtual grpc::ServerWriteReactor<cdnwarm::v1::Delivery>* single() { return nullptr; }
  virtual grpc::ServerWriteReactor<cdnwarm::v1::DeliveryBatch>* batched() { return nullptr; }

  // A stream of Subscribe (one delivery per message) or SubscribeBatched.
  static SubscribeStream* New(bool batched, std::string region, std::string subscriber_id,
                              std::function<void(SubscribeStream*)> on_done);

 protected:
  // From OnDone: the owner forgets the stream.
  void Done() { on_done_(this); }

 private:
  const std::string region_;
  const std::string subscriber_id_;
  const std::function<void(SubscribeStream*)> on_done_;
};

// Most deliveries and bytes in one DeliveryBatch (besides the subscriber's credit, which
// bounds what can be queued at all). gRPC's default receive limit is 4 MiB.
inline constexpr int kMaxBatchDeliveries = 1000;
inline constexpr size_t kMaxBatchBytes = size_t{1} << 20;

}  // namespace cdnwarm::bridge
