#pragma once

// A Bridge subscriber for tests, as a warmer would be: one stream on its own thread,
// deliveries collected, acks on demand.

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "cdnwarm/v1/bridge.grpc.pb.h"
#include "common/core/contract.h"
#include "common/core/proto_time.h"
#include "common/core/sync.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"

namespace cdnwarm::testing {

using BridgeStub = cdnwarm::v1::Bridge::Stub;

class TestSubscriber {
 public:
  TestSubscriber(BridgeStub& stub, std::string region, std::string id, uint32_t credit,
                 absl::Duration ack_deadline = absl::Seconds(60), std::string token = "")
      : stub_(stub), region_(std::move(region)), id_(std::move(id)), token_(std::move(token)) {
    if (!token_.empty()) ctx_.AddMetadata("authorization", "Bearer " + token_);
    cdnwarm::v1::SubscribeRequest req;
    req.set_region(region_);
    req.set_subscriber_id(id_);
    req.set_max_outstanding(credit);
    *req.mutable_ack_deadline() = common::ToProtoDuration(ack_deadline);
    thread_ = std::thread([this, req] {
      auto reader = stub_.Subscribe(&ctx_, req);
      reader->WaitForInitialMetadata();
      {
        common::MutexLock lock(&mu_);
        subscribed_ = ctx_.GetServerInitialMetadata().count(common::kSubscriptionMetadata) > 0;
        cv_.SignalAll();
      }
      cdnwarm::v1::Delivery d;
      while (reader->Read(&d)) {
        common::MutexLock lock(&mu_);
        received_.push_back(d);
        cv_.SignalAll();
      }
      common::MutexLock lock(&mu_);
      status_ = reader->Finish();
      ended_ = true;
      cv_.SignalAll();
    });
  }
  ~TestSubscriber() {
    ctx_.TryCancel();
    thread_.join();
  }
  void Cancel() { ctx_.TryCancel(); }

  // Waits for the bridge to confirm the subscription (initial metadata).
  bool WaitSubscribed(absl::Duration timeout = absl::Seconds(30)) {
    common::MutexLock lock(&mu_);
    const absl::Time deadline = absl::Now() + timeout;
    while (!subscribed_ && !ended_) {
      if (cv_.WaitWithDeadline(&mu_, deadline)) break;
    }
    return subscribed_;
  }

  // Waits until `pred(received)` holds.
  bool WaitUntil(const std::function<bool(const std::vector<cdnwarm::v1::Delivery>&)>& pred,
                 absl::Duration timeout = absl::Seconds(60)) {
    common::MutexLock lock(&mu_);
    const absl::Time deadline = absl::Now() + timeout;
    while (!pred(received_) && !ended_) {
      if (cv_.WaitWithDeadline(&mu_, deadline)) break;
    }
    return pred(received_);
  }
  // Takes the deliveries not taken yet.
  std::vector<cdnwarm::v1::Delivery> Take() {
    common::MutexLock lock(&mu_);
    std::vector<cdnwarm::v1::Delivery> out(received_.begin() + taken_, received_.end());
    taken_ = received_.size();
    return out;
  }
  size_t received() {
    common::MutexLock lock(&mu_);
    return received_.size();
  }
  std::vector<cdnwarm::v1::AckStatus> Ack(const std::vector<cdnwarm::v1::Delivery>& ds,
                                          cdnwarm::v1::AckOutcome outcome,
                                          const std::string& as = "") {
    cdnwarm::v1::AckRequest req;
    req.set_subscriber_id(as.empty() ? id_ : as);
    for (const auto& d : ds) {
      auto* e = req.add_entries();
      e->set_ack_id(d.ack_id());
      e->set_outcome(outcome);
      e->mutable_result()->set_http_status(200);
    }
    grpc::ClientContext ctx;
    if (!token_.empty()) ctx.AddMetadata("authorization", "Bearer " + token_);
    cdnwarm::v1::AckReply reply;
    grpc::Status s = stub_.Ack(&ctx, req, &reply);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::vector<cdnwarm::v1::AckStatus> out;
    for (int st : reply.statuses()) out.push_back(static_cast<cdnwarm::v1::AckStatus>(st));
    return out;
  }
  grpc::Status status() {
    common::MutexLock lock(&mu_);
    return status_;
  }

 private:
  BridgeStub& stub_;
  const std::string region_;
  const std::string id_;
  const std::string token_;
  grpc::ClientContext ctx_;
  common::Mutex mu_;
  common::CondVar cv_;
  std::vector<cdnwarm::v1::Delivery> received_;
  size_t taken_ = 0;
  bool ended_ = false;
  bool subscribed_ = false;
  grpc::Status status_;
  std::thread thread_;
};

}  // namespace cdnwarm::testing
