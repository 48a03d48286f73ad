#include "warmer/subscriber.h"

#include <algorithm>
#include <random>
#include <type_traits>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/core/contract.h"
#include "common/core/log.h"
#include "common/core/proto_time.h"
#include "common/core/sync.h"

namespace cdnwarm::warmer {
struct Subscriber::Metrics {
  explicit Metrics(metrics::Registry& r)
      : acks(r.AddCounter("cdnwarm_warmer_acks_total", "Acks sent, by outcome", {"outcome"})),
        ack_failures(r.AddCounter("cdnwarm_warmer_ack_rpc_failures_total",
                                  "Ack RPCs that failed (the bridge redelivers after the deadline)")
                         .Get()),
        extensions(r.AddCounter("cdnwarm_warmer_deadline_extensions_total",
                                "Ack deadlines extended for long warms")
                       .Get()),
        task_age(r.AddHistogram("cdnwarm_warmer_task_age_seconds",
                                "Age of a task at its first delivery here, since the producer "
                                "accepted it (enqueued_at): Kafka and the bridge, on two clocks",
                                metrics::LatencyBuckets())
                     .Get()) {}
  metrics::Family<metrics::Counter>& acks;
  metrics::Counter& ack_failures;
  metrics::Counter& extensions;
  metrics::Histogram& task_age;
};

Subscriber::Subscriber(SubscriberOptions options, std::shared_ptr<grpc::Channel> bridge,
                       TaskWarmer& warmer, WarmerStats& stats, common::Readiness& readiness,
                       metrics::Registry& registry)
    : options_(std::move(options)),
      stub_(cdnwarm::v1::Bridge::NewStub(std::move(bridge))),
      warmer_(warmer),
      stats_(stats),
      readiness_(readiness),
      metrics_(std::make_unique<Metrics>(registry)) {
  link_->self = this;
  readiness_.Set("subscribed", false);
}

Subscriber::~Subscriber() {
  Drain(absl::ZeroDuration());
  common::MutexLock lock(&link_->mu);
  link_->self = nullptr;
}

void Subscriber::Start() {
  stream_thread_ = std::thread([this] { StreamLoop(); });
  ack_thread_ = std::thread([this] { AckLoop(); });
}

void Subscriber::AddAuth(grpc::ClientContext& ctx) const {
  if (!options_.bearer_token.empty()) {
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", options_.bearer_token));
  }
}

void Subscriber::StreamLoop() {
  // However the loop ends, a Drain waiting for the stream to be over hears it.
  absl::Cleanup ended = [this] {
    common::MutexLock lock(&mu_);
    stream_ended_ = true;
    cv_.SignalAll();
  };
  std::mt19937_64 rng(std::random_device{}());
  absl::Duration backoff = options_.min_backoff;
  for (;;) {
    grpc::ClientContext ctx;
    AddAuth(ctx);
    {
      common::MutexLock lock(&mu_);
      // A draining subscriber never opens a stream again: a new one would be a fresh,
      // non-draining subscriber to the bridge.
      if (stopped_ || draining_) return;
      stream_ctx_ = &ctx;
    }
    cdnwarm::v1::SubscribeRequest req;
    req.set_region(options_.region);
    req.set_subscriber_id(options_.subscriber_id);
    req.set_max_outstanding(options_.max_outstanding);
    *req.mutable_ack_deadline() = common::ToProtoDuration(options_.ack_deadline);
    const absl::Time opened = options_.clock->Now();
    bool got_any = false;
    const grpc::Status status = batched_
                                    ? ReadStream(*stub_->SubscribeBatched(&ctx, req), ctx, &got_any)
                                    : ReadStream(*stub_->Subscribe(&ctx, req), ctx, &got_any);
    stats_.SetSubscribed(false);
    readiness_.Set("subscribed", false);
    {
      common::MutexLock lock(&mu_);
      stream_ctx_ = nullptr;
      // Draining: the bridge ended the stream once we held nothing, so everything it sent
      // has been read (and released). No reconnect.
      if (stopped_ || draining_) return;
      // A bridge older than SubscribeBatched: the same subscription, one delivery per
      // message, at once (the next stream is the first of the old kind, not a retry).
      if (batched_ && status.error_code() == grpc::StatusCode::UNIMPLEMENTED && !got_any) {
        log::Info("the bridge has no SubscribeBatched; subscribing with Subscribe",
                  {{"region", options_.region}});
        batched_ = false;
        continue;
      }
      // After a Subscribe stream, SubscribeBatched again: the bridge behind the address may
      // have been upgraded (a rolling update), and an old one costs one UNIMPLEMENTED.
      batched_ = true;
      // A stream that worked for a while starts the backoff over.
      if (got_any || options_.clock->Now() - opened > absl::Seconds(10))
        backoff = options_.min_backoff;
      std::uniform_real_distribution<double> jitter(0.5, 1.5);
      const absl::Duration wait = backoff * jitter(rng);
      log::Warn("bridge stream ended; reconnecting",
                {{"code", static_cast<int>(status.error_code())},
                 {"error", status.error_message()},
                 {"retry_in_ms", absl::ToInt64Milliseconds(wait)}});
      const absl::Time retry_at = absl::Now() + wait;
      while (!stopped_ && !draining_) {
        if (cv_.WaitWithDeadline(&mu_, retry_at)) break;
      }
      if (stopped_ || draining_) return;
      backoff = std::min(options_.max_backoff, backoff * 2);
    }
    stats_.Reconnect();
  }
}

template <typename Message>
grpc::Status Subscriber::ReadStream(grpc::ClientReader<Message>& reader, grpc::ClientContext& ctx,
                                    bool* got_any) {
  reader.WaitForInitialMetadata();
  // The bridge confirms an accepted subscription in its initial metadata (bridge.proto).
  if (ctx.GetServerInitialMetadata().count(common::kSubscriptionMetadata) > 0) {
    stats_.SetSubscribed(true);
    readiness_.Set("subscribed", true);
    log::Info("subscribed", {{"region", options_.region}, {"batched", batched_}});
  }
  Message message;
  while (reader.Read(&message)) {
    *got_any = true;
    if constexpr (std::is_same_v<Message, cdnwarm::v1::DeliveryBatch>) {
      for (const cdnwarm::v1::Delivery& d : message.deliveries()) OnDelivery(d);
    } else {
      OnDelivery(message);
    }
  }
  return reader.Finish();
}

void Subscriber::OnDelivery(const cdnwarm::v1::Delivery& d) {
  stats_.Delivery();
  {
    common::MutexLock lock(&mu_);
    if (draining_) {
      // Sent before the bridge saw our Drain: released at once, so another subscriber
      // takes it without an attempt counted.
      cdnwarm::v1::AckEntry back;
      back.set_ack_id(d.ack_id());
      back.set_outcome(cdnwarm::v1::ACK_OUTCOME_RELEASE);
      acks_.push_back(std::move(back));
      if (first_ack_ == absl::InfiniteFuture()) first_ack_ = options_.clock->Now();
      cv_.SignalAll();
      return;
    }
    const absl::Time now = options_.clock->Now();
    const absl::Time deadline =
        d.has_deadline() ? common::FromProtoTimestamp(d.deadline()) : now + options_.ack_deadline;
    in_flight_[d.ack_id()] = InFlight{deadline, now};
    // Counted here, past the drain's release: a released delivery comes again, to
    // another subscriber, still as its first attempt.
    if (d.delivery_attempt() <= 1 && d.task().has_enqueued_at()) {
      metrics_->task_age.Observe(now - common::FromProtoTimestamp(d.task().enqueued_at()));
    }
    stats_.SetInFlight(static_cast<uint32_t>(in_flight_.size()));
    cv_.SignalAll();  // the ack loop schedules this delivery's extension
  }
  warmer_.Warm(d.task(), d.delivery_attempt(),
               [link = link_, ack_id = d.ack_id()](WarmOutcome out) {
                 common::MutexLock lock(&link->mu);
                 if (link->self != nullptr) link->self->Completed(ack_id, std::move(out));
               });
}

void Subscriber::Completed(const std::string& ack_id, WarmOutcome out) {
  cdnwarm::v1::AckEntry entry;
  entry.set_ack_id(ack_id);
  entry.set_outcome(out.ack);
  if (out.ack == cdnwarm::v1::ACK_OUTCOME_RETRY && out.retry_delay > absl::ZeroDuration()) {
    *entry.mutable_retry_delay() = common::ToProtoDuration(out.retry_delay);
  }
  stats_.Finished(out.result, cdnwarm::v1::AckOutcome_Name(out.ack).c_str());
  *entry.mutable_result() = std::move(out.result);
  common::MutexLock lock(&mu_);
  // Gone when the drain already handed it back.
  if (in_flight_.erase(ack_id) == 0) return;
  stats_.SetInFlight(static_cast<uint32_t>(in_flight_.size()));
  acks_.push_back(std::move(entry));
  if (first_ack_ == absl::InfiniteFuture()) first_ack_ = options_.clock->Now();
  cv_.SignalAll();
}

bool Subscriber::SendAcks(std::vector<cdnwarm::v1::AckEntry> entries) {
  cdnwarm::v1::AckRequest req;
  req.set_subscriber_id(options_.subscriber_id);
  for (auto& e : entries) {
    metrics_->acks.Labels({cdnwarm::v1::AckOutcome_Name(e.outcome())}).Increment();
    *req.add_entries() = std::move(e);
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    grpc::ClientContext ctx;
    AddAuth(ctx);
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    cdnwarm::v1::AckReply reply;
    const grpc::Status s = stub_->Ack(&ctx, req, &reply);
    if (s.ok()) return true;
    metrics_->ack_failures.Increment();
    log::Warn("ack failed", {{"error", s.error_message()}, {"attempt", attempt + 1}});
  }
  return false;
}

absl::Time Subscriber::NextExtensionLocked() const {
  absl::Time earliest = absl::InfiniteFuture();
  for (const auto& [ack_id, f] : in_flight_) earliest = std::min(earliest, f.deadline);
  return earliest == absl::InfiniteFuture() ? earliest : earliest - ExtensionMargin();
}

void Subscriber::ExtendDeadlines() {
  cdnwarm::v1::ModifyAckDeadlineRequest req;
  {
    common::MutexLock lock(&mu_);
    const absl::Time now = options_.clock->Now();
    for (auto& [ack_id, f] : in_flight_) {
      if (f.deadline - ExtensionMargin() <= now) {
        req.add_ack_ids(ack_id);
        f.deadline = now + options_.ack_deadline;
      }
    }
  }
  if (req.ack_ids().empty()) return;
  req.set_subscriber_id(options_.subscriber_id);
  *req.mutable_ack_deadline() = common::ToProtoDuration(options_.ack_deadline);
  grpc::ClientContext ctx;
  AddAuth(ctx);
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  cdnwarm::v1::AckReply reply;
  if (stub_->ModifyAckDeadline(&ctx, req, &reply).ok()) {
    metrics_->extensions.Increment(req.ack_ids_size());
  }
}

void Subscriber::AckLoop() {
  for (;;) {
    std::vector<cdnwarm::v1::AckEntry> batch;
    bool stop = false;
    {
      common::MutexLock lock(&mu_);
      // Wake when a batch is full, when the oldest ack has waited ack_delay, or when the
      // earliest in-flight deadline comes within ExtensionMargin (each wait ends at that
      // moment, not at the next notification). A fixed extension period would miss short
      // deadlines: with a 3 s deadline and a 1 s period, the one check inside the last
      // second could land after it.
      for (;;) {
        const absl::Time now = options_.clock->Now();
        if (stopped_ || acks_.size() >= options_.ack_batch ||
            (!acks_.empty() && now - first_ack_ >= options_.ack_delay)) {
          break;
        }
        const absl::Time extend_at = NextExtensionLocked();
        if (extend_at <= now) break;
        const absl::Time until =
            acks_.empty() ? extend_at : std::min(extend_at, first_ack_ + options_.ack_delay);
        cv_.WaitWithTimeout(&mu_, until - now);  // a real wait for a span of clock time
      }
      if (!acks_.empty()) {
        batch.swap(acks_);
        first_ack_ = absl::InfiniteFuture();
      }
      stop = stopped_;
    }
    if (!batch.empty()) SendAcks(std::move(batch));
    if (stop) return;
    ExtendDeadlines();
  }
}

void Subscriber::Drain(absl::Duration grace) {
  {
    common::MutexLock lock(&mu_);
    if (stopped_) return;
    draining_ = true;
  }
  bool drain_taken = false;
  // Tell the bridge first, so it sends nothing more here (an older bridge answers
  // UNIMPLEMENTED: what it still sends is released as it arrives).
  {
    cdnwarm::v1::DrainRequest req;
    req.set_region(options_.region);
    req.set_subscriber_id(options_.subscriber_id);
    grpc::ClientContext ctx;
    AddAuth(ctx);
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
    cdnwarm::v1::DrainReply reply;
    drain_taken = stub_->Drain(&ctx, req, &reply).ok();
    if (!drain_taken) {
      log::Warn("the bridge did not take the drain; releasing what it still sends");
    }
  }
  {
    common::MutexLock lock(&mu_);
    if (stopped_) return;
    // Wait for the warms in flight (their acks are queued as they finish).
    const absl::Time grace_end = absl::Now() + grace;
    while (!in_flight_.empty()) {
      if (cv_.WaitWithDeadline(&mu_, grace_end)) break;
    }
    for (const auto& [ack_id, f] : in_flight_) {
      cdnwarm::v1::AckEntry back;
      back.set_ack_id(ack_id);
      back.set_outcome(cdnwarm::v1::ACK_OUTCOME_RELEASE);
      acks_.push_back(std::move(back));
    }
    in_flight_.clear();
    stats_.SetInFlight(0);
    if (!acks_.empty() && first_ack_ == absl::InfiniteFuture()) first_ack_ = options_.clock->Now();
    cv_.SignalAll();
    // A bridge that took the drain ends the stream once we hold nothing: until then
    // deliveries it sent before the drain may still arrive, and the ack loop, still
    // running, releases them too. That takes an ack round trip; the bound is for a bridge
    // that never ends it, and keeps SIGTERM within the grace period plus a few seconds.
    if (drain_taken) {
      const absl::Time end_by = absl::Now() + absl::Seconds(3);
      while (!stream_ended_) {
        if (cv_.WaitWithDeadline(&mu_, end_by)) break;
      }
    }
    stopped_ = true;
    cv_.SignalAll();
  }
  // The ack thread flushes everything queued before it exits; only then does the stream
  // close (closing first would make the bridge redeliver what was just finished).
  if (ack_thread_.joinable()) ack_thread_.join();
  // Releases of deliveries read after the ack thread's last batch go out here, before the
  // stream closes (the bridge would count what is still outstanding then as attempts).
  std::vector<cdnwarm::v1::AckEntry> late;
  {
    common::MutexLock lock(&mu_);
    late.swap(acks_);
  }
  if (!late.empty()) SendAcks(std::move(late));
  {
    common::MutexLock lock(&mu_);
    if (stream_ctx_ != nullptr) stream_ctx_->TryCancel();
  }
  if (stream_thread_.joinable()) stream_thread_.join();
  readiness_.Set("subscribed", false);
}

}  // namespace cdnwarm::warmer
