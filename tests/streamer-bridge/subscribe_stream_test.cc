// The Subscribe and SubscribeBatched streams on a real gRPC server. Whichever way a stream ends
// (the subscriber cancels while a write is blocked on flow control, or the bridge ends it
// with writes queued), it finishes, OnDone runs once, and the server can shut down.
// A stream that missed Finish (OnCancel before OnWriteDone(false)) kept the server's
// shutdown, and so SIGTERM, waiting for ever.

#include "streamer-bridge/subscribe_stream.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/core/metrics.h"
#include "common/core/server_runner.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "tests/support/tcp_proxy.h"

namespace cdnwarm::bridge {
namespace {

constexpr int kDeliveries = 200;
constexpr size_t kDeliveryBytes = 64 * 1024;  // 12.8 MB in all: far past flow control

// Each Subscribe and SubscribeBatched gets a stream loaded, before it starts, with
// kDeliveries deliveries of `url_bytes` each.
class LoadedBridge final : public cdnwarm::v1::Bridge::CallbackService {
 public:
  explicit LoadedBridge(size_t url_bytes = kDeliveryBytes) : url_bytes_(url_bytes) {}
  grpc::ServerWriteReactor<cdnwarm::v1::Delivery>* Subscribe(
      grpc::CallbackServerContext*, const cdnwarm::v1::SubscribeRequest* request) override {
    return Open(false, *request)->single();
  }
  grpc::ServerWriteReactor<cdnwarm::v1::DeliveryBatch>* SubscribeBatched(
      grpc::CallbackServerContext*, const cdnwarm::v1::SubscribeRequest* request) override {
    return Open(true, *request)->batched();
  }
  SubscribeStream* Open(bool batched, const cdnwarm::v1::SubscribeRequest& request) {
    SubscribeStream* s =
        SubscribeStream::New(batched, "eu", request.subscriber_id(), [this](SubscribeStream*) {
          if (done_.fetch_add(1) == 0) first_done_.Notify();
        });
    {
      absl::MutexLock lock(&mu_);
      stream_ = s;
    }
    for (int i = 0; i < kDeliveries; ++i) {
      cdnwarm::v1::Delivery d;
      d.set_ack_id(absl::StrCat("a.", i));
      d.mutable_task()->set_url(std::string(url_bytes_, 'x'));
      s->Send(std::move(d));
    }
    s->Start();
    started_.Notify();
    return s;
  }
  const size_t url_bytes_;
  absl::Mutex mu_;
  SubscribeStream* stream_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Notification started_;
  absl::Notification first_done_;
  std::atomic<int> done_{0};
};

// Either kind of stream, read one delivery at a time.
class DeliveryReader {
 public:
  DeliveryReader(cdnwarm::v1::Bridge::Stub& stub, grpc::ClientContext& ctx, bool batched) {
    cdnwarm::v1::SubscribeRequest req;
    req.set_subscriber_id("w1");
    if (batched) {
      batches_ = stub.SubscribeBatched(&ctx, req);
      batches_->WaitForInitialMetadata();
    } else {
      single_ = stub.Subscribe(&ctx, req);
      single_->WaitForInitialMetadata();
    }
  }
  bool Read(cdnwarm::v1::Delivery* d) {
    if (single_) return single_->Read(d);
    while (next_ == batch_.deliveries_size()) {
      if (!batches_->Read(&batch_)) return false;
      next_ = 0;
    }
    *d = batch_.deliveries(next_++);
    return true;
  }
  grpc::Status Finish() { return single_ ? single_->Finish() : batches_->Finish(); }

 private:
  std::unique_ptr<grpc::ClientReader<cdnwarm::v1::Delivery>> single_;
  std::unique_ptr<grpc::ClientReader<cdnwarm::v1::DeliveryBatch>> batches_;
  cdnwarm::v1::DeliveryBatch batch_;
  int next_ = 0;
};

std::unique_ptr<cdnwarm::v1::Bridge::Stub> StubFor(int port) {
  return cdnwarm::v1::Bridge::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
}

// Parameter: SubscribeBatched (true) or Subscribe.
class SubscribeStreamTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&bridge_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = StubFor(port_);
  }
  // OnDone must come; if it does not, shutting the server down would hang the test, so the
  // failure is reported and the process ends here.
  void ExpectDoneThenShutDown() {
    if (!bridge_.first_done_.WaitForNotificationWithTimeout(absl::Seconds(20))) {
      ADD_FAILURE() << "the stream never finished: OnDone did not run, shutdown would hang";
      std::fflush(nullptr);
      std::_Exit(1);
    }
    server_->Shutdown();
    EXPECT_EQ(bridge_.done_.load(), 1) << "OnDone exactly once";
  }
  LoadedBridge bridge_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<cdnwarm::v1::Bridge::Stub> stub_;
};

INSTANTIATE_TEST_SUITE_P(Kinds, SubscribeStreamTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& kind) {
                           return kind.param ? "SubscribeBatched" : "Subscribe";
                         });

TEST_P(SubscribeStreamTest, FinishesWhenTheSubscriberCancelsDuringABlockedWrite) {
  grpc::ClientContext ctx;
  DeliveryReader reader(*stub_, ctx, GetParam());
  cdnwarm::v1::Delivery first;
  ASSERT_TRUE(reader.Read(&first));  // writes are flowing; the rest wait for window
  ctx.TryCancel();
  EXPECT_EQ(reader.Finish().error_code(), grpc::StatusCode::CANCELLED);
  ExpectDoneThenShutDown();
}

TEST_P(SubscribeStreamTest, FinishesWithTheBridgesStatusWhenEndedWithWritesQueued) {
  grpc::ClientContext ctx;
  DeliveryReader reader(*stub_, ctx, GetParam());
  bridge_.started_.WaitForNotification();
  std::vector<std::string> never_sent;
  {
    absl::MutexLock lock(&bridge_.mu_);
    bridge_.stream_->End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "draining"));
    never_sent = bridge_.stream_->TakeNeverSent();
  }
  cdnwarm::v1::Delivery d;
  int read = 0;
  while (reader.Read(&d)) {
    EXPECT_EQ(d.ack_id(), absl::StrCat("a.", read)) << "in order";
    ++read;
  }
  EXPECT_LT(read, kDeliveries) << "what was queued is dropped, not written";
  // Every delivery was either written or is named as never sent, exactly once.
  ASSERT_EQ(read + static_cast<int>(never_sent.size()), kDeliveries);
  for (size_t i = 0; i < never_sent.size(); ++i) {
    EXPECT_EQ(never_sent[i], absl::StrCat("a.", read + static_cast<int>(i)));
  }
  const grpc::Status status = reader.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(status.error_message(), "draining");
  ExpectDoneThenShutDown();
}

// SubscribeBatched writes what was queued while it could not write in one message: all
// kDeliveries small ones, queued before the stream started, come as one batch. Large ones
// come in batches of at most kMaxBatchBytes, each still more than one delivery, in order.
TEST(SubscribeBatchedTest, WritesWhatWasQueuedInOneMessageWithinTheByteBound) {
  for (const size_t url_bytes : {size_t{100}, kDeliveryBytes}) {
    SCOPED_TRACE(absl::StrCat(url_bytes, "-byte URLs"));
    LoadedBridge bridge(url_bytes);
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&bridge);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    ASSERT_NE(server, nullptr);
    grpc::ClientContext ctx;
    cdnwarm::v1::SubscribeRequest req;
    req.set_subscriber_id("w1");
    auto stub = StubFor(port);  // the reader uses its channel to the end
    auto reader = stub->SubscribeBatched(&ctx, req);
    cdnwarm::v1::DeliveryBatch batch;
    int read = 0, messages = 0;
    while (read < kDeliveries && reader->Read(&batch)) {
      ++messages;
      EXPECT_LE(batch.ByteSizeLong(), kMaxBatchBytes + 64) << "message " << messages;
      for (const auto& d : batch.deliveries()) EXPECT_EQ(d.ack_id(), absl::StrCat("a.", read++));
    }
    EXPECT_EQ(read, kDeliveries);
    if (url_bytes == 100) {
      EXPECT_EQ(messages, 1) << "everything queued before the start is one batch";
    } else {
      const int per_batch = static_cast<int>(kMaxBatchBytes / (kDeliveryBytes + 16));
      EXPECT_EQ(messages, (kDeliveries + per_batch - 1) / per_batch) << per_batch << " per batch";
    }
    ctx.TryCancel();
    reader->Finish();
    server->Shutdown();
  }
}

// The server's side of a half-open connection: the subscriber's path died silently, and
// without keepalive pings the bridge kept the stream (and its deliveries) for ever. The
// services' ServerRunner pings clients, so the stream ends and its region can redeliver.
TEST(SubscribeStreamKeepaliveTest, TheBridgeEndsTheStreamOfASubscriberWhosePathDied) {
  LoadedBridge bridge;
  metrics::Registry registry;
  common::ServerOptions options;
  options.keepalive = {.time = absl::Seconds(1), .timeout = absl::Seconds(1)};
  common::ServerRunner runner(options, registry);
  runner.AddService(&bridge);
  ASSERT_TRUE(runner.Start().ok());
  cdnwarm::testing::FreezableProxy proxy(runner.grpc_port());
  // The client itself does not ping: only the server can find the dead path here.
  auto stub = cdnwarm::v1::Bridge::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", proxy.port()), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  cdnwarm::v1::SubscribeRequest req;
  req.set_subscriber_id("w1");
  auto reader = stub->Subscribe(&ctx, req);
  cdnwarm::v1::Delivery d;
  ASSERT_TRUE(reader->Read(&d));
  proxy.FreezeExisting();
  EXPECT_TRUE(bridge.first_done_.WaitForNotificationWithTimeout(absl::Seconds(20)))
      << "the stream of the dead connection never ended";
  ctx.TryCancel();
  runner.Shutdown();
  runner.Wait();
}

}  // namespace
}  // namespace cdnwarm::bridge
