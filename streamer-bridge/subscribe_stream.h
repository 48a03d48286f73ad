#pragma once

// One subscriber's Subscribe stream: a common::QueuedWriter of deliveries (written one at
// a time, in order) that a region sends to.
//
// Lifetime. gRPC owns the object from the Subscribe handler's return until OnDone, which
// calls `on_done` (the owner forgets the stream there: no region may Send to it after)
// and deletes it. Finish is called exactly once, whichever way the stream ends: End, the
// client cancelling, or a write failing, in any order of OnCancel and OnWriteDone.
//
// Locking. The writer's lock is the innermost of the bridge (registry, then region, then
// stream): Send is called under a region's lock, and nothing here calls out while holding
// it.

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "cdnwarm/v1/bridge.grpc.pb.h"
#include "common/core/queued_writer.h"
#include "streamer-bridge/region.h"

namespace cdnwarm::bridge {

class SubscribeStream final : public common::QueuedWriter<cdnwarm::v1::Delivery>,
                              public DeliverySink {
 public:
  // `on_done` runs once, in OnDone, before the stream deletes itself.
  SubscribeStream(std::string region, std::string subscriber_id,
                  std::function<void(SubscribeStream*)> on_done);

  const std::string& region() const { return region_; }
  const std::string& subscriber_id() const { return subscriber_id_; }

  // Sends the initial metadata and starts writing what Send queued so far. Until then
  // Send only queues, so the stream can be registered under the owner's lock first.
  void Start();
  // Queues a delivery, written in order once started; false once the stream is ending.
  bool Send(cdnwarm::v1::Delivery delivery) override { return Enqueue(std::move(delivery)); }
  // Ack ids that were queued but never written (dropped when the stream ended).
  std::vector<std::string> TakeNeverSent();
  // The subscriber drained and holds nothing: the stream ends OK after what is queued.
  void Drained() override { EndAfterQueue(grpc::Status::OK); }

  void OnSendInitialMetadataDone(bool) override {}
  void OnDone() override;

 private:
  const std::string region_;
  const std::string subscriber_id_;
  const std::function<void(SubscribeStream*)> on_done_;
};

}  // namespace cdnwarm::bridge
