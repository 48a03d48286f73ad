#pragma once

// The warmer's side of the bridge contract: one SubscribeBatched stream for the region
// (Subscribe, from a bridge older than that call), with credit = the HTTP capacity; every
// delivery warmed and acked in batches, deadlines of long warms extended, reconnection
// with backoff and jitter when the stream ends, and a drain that finishes or releases
// (ACK_OUTCOME_RELEASE) what is in flight.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "cdnwarm/v1/bridge.grpc.pb.h"
#include "common/core/clock.h"
#include "common/core/metrics.h"
#include "common/core/readiness.h"
#include "common/core/sync.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "warmer/task_warmer.h"
#include "warmer/warmer_stats.h"

namespace cdnwarm::warmer {

struct SubscriberOptions {
  std::string region = "";
  std::string subscriber_id = "";
  uint32_t max_outstanding = 64;
  absl::Duration ack_deadline = absl::Seconds(60);
  std::string bearer_token = "";  // sent as "authorization: Bearer <token>" when set
  size_t ack_batch = 64;
  // Longest an ack waits to share an Ack RPC with others; results (and WatchJob) see a
  // warm this much later at most. 100 ms made results trail warms by ~100 ms (bench).
  absl::Duration ack_delay = absl::Milliseconds(10);
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(10);
  // Where "now" comes from (tests: FakeClock); waits stay on the real clock.
  const common::Clock* clock = &common::Clock::Real();
};

class Subscriber {
 public:
  Subscriber(SubscriberOptions options, std::shared_ptr<grpc::Channel> bridge, TaskWarmer& warmer,
             WarmerStats& stats, common::Readiness& readiness, metrics::Registry& registry);
  ~Subscriber();  // Drain(0) if not drained

  void Start();
  // Tells the bridge to send nothing more (Bridge.Drain; deliveries already on their way
  // are released at once), waits up to `grace` for the warms in flight, releases
  // (ACK_OUTCOME_RELEASE: no attempt counted) those still running, reads on until the
  // bridge ends the stream (it does once this subscriber holds nothing, so every delivery
  // sent is accounted for), flushes acks, and closes.
  void Drain(absl::Duration grace);

 private:
  struct InFlight {
    absl::Time deadline;
    absl::Time started;
  };
  struct Metrics;
  // Lets warm completions that arrive after the subscriber is gone find it gone.
  struct Link {
    common::Mutex mu;
    Subscriber* self ABSL_GUARDED_BY(mu) = nullptr;
  };

  void StreamLoop();
  void AckLoop();
  // One stream, SubscribeBatched's or Subscribe's, read to its end: its status, and
  // whether it carried any delivery.
  template <typename Message>
  grpc::Status ReadStream(grpc::ClientReader<Message>& reader, grpc::ClientContext& ctx,
                          bool* got_any);
  void OnDelivery(const cdnwarm::v1::Delivery& d);
  void Completed(const std::string& ack_id, WarmOutcome out);
  void AddAuth(grpc::ClientContext& ctx) const;
  bool SendAcks(std::vector<cdnwarm::v1::AckEntry> entries);
  void ExtendDeadlines();
  // When the earliest in-flight deadline comes within ExtensionMargin (InfiniteFuture with
  // nothing in flight): the ack loop wakes then, whatever the ack traffic.
  absl::Time NextExtensionLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Duration ExtensionMargin() const { return options_.ack_deadline / 3; }

  const SubscriberOptions options_;
  std::unique_ptr<cdnwarm::v1::Bridge::Stub> stub_;
  TaskWarmer& warmer_;
  WarmerStats& stats_;
  common::Readiness& readiness_;
  std::unique_ptr<Metrics> metrics_;
  std::shared_ptr<Link> link_ = std::make_shared<Link>();

  common::Mutex mu_;
  common::CondVar cv_;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool stream_ended_ ABSL_GUARDED_BY(mu_) = false;  // StreamLoop is over: no stream, none to come
  grpc::ClientContext* stream_ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::map<std::string, InFlight> in_flight_ ABSL_GUARDED_BY(mu_);
  std::vector<cdnwarm::v1::AckEntry> acks_ ABSL_GUARDED_BY(mu_);
  absl::Time first_ack_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  // SubscribeBatched, or Subscribe for one stream after a bridge answered UNIMPLEMENTED
  // (stream thread).
  bool batched_ = true;
  std::thread stream_thread_;
  std::thread ack_thread_;
};

}  // namespace cdnwarm::warmer
