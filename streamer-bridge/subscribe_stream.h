#pragma once

// One subscriber's Subscribe stream on gRPC's callback API: deliveries queue here and are
// written one at a time.
//
// Lifetime. gRPC owns the object from the Subscribe handler's return until OnDone, which
// calls `on_done` (the owner forgets the stream there: no region may Send to it after)
// and deletes it. Finish is called exactly once, whichever way the stream ends: End, the
// client cancelling, or a write failing, in any order of OnCancel and OnWriteDone.
//
// Locking. `mu_` is the innermost lock of the bridge (service, then region, then stream):
// Send is called under a region's lock; nothing here calls out while holding `mu_`, and
// gRPC operations (which may run reactions inline) start after it is released.

#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "cdnwarm/v1/bridge.grpc.pb.h"
#include "streamer-bridge/region.h"

namespace cdnwarm::bridge {

class SubscribeStream final : public grpc::ServerWriteReactor<cdnwarm::v1::Delivery>,
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
  bool Send(cdnwarm::v1::Delivery delivery) override;
  // Ack ids that were queued but never written (dropped when the stream ended).
  std::vector<std::string> TakeNeverSent();
  // Ends the stream with `status` once the write in flight (if any) is done; what is still
  // queued is dropped (the region hands those deliveries to others).
  void End(const grpc::Status& status);
  // The subscriber drained and holds nothing: the stream ends OK after what is queued.
  void Drained() override;

  void OnSendInitialMetadataDone(bool) override {}
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // The next step under `lock`: a write, Finish, or nothing; the gRPC call is made after
  // the lock is released.
  void AdvanceLocked(std::unique_lock<std::mutex>& lock) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops what is queued, remembering the ack ids (TakeNeverSent).
  void DropQueueLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string region_;
  const std::string subscriber_id_;
  const std::function<void(SubscribeStream*)> on_done_;
  std::mutex mu_;
  std::deque<cdnwarm::v1::Delivery> queue_ ABSL_GUARDED_BY(mu_);
  cdnwarm::v1::Delivery current_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  bool drained_ ABSL_GUARDED_BY(mu_) = false;  // finish once the queue is written
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status end_status_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> never_sent_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cdnwarm::bridge
