// The Subscribe stream's lifetime on a real gRPC server: whichever way a stream ends
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

// Each Subscribe gets a stream loaded with more than the transport will take unread.
class LoadedBridge final : public cdnwarm::v1::Bridge::CallbackService {
 public:
  grpc::ServerWriteReactor<cdnwarm::v1::Delivery>* Subscribe(
      grpc::CallbackServerContext*, const cdnwarm::v1::SubscribeRequest* request) override {
    auto* s = new SubscribeStream("eu", request->subscriber_id(), [this](SubscribeStream*) {
      if (done_.fetch_add(1) == 0) first_done_.Notify();
    });
    {
      absl::MutexLock lock(&mu_);
      stream_ = s;
    }
    for (int i = 0; i < kDeliveries; ++i) {
      cdnwarm::v1::Delivery d;
      d.set_ack_id(absl::StrCat("a.", i));
      d.mutable_task()->set_url(std::string(kDeliveryBytes, 'x'));
      s->Send(std::move(d));
    }
    s->Start();
    started_.Notify();
    return s;
  }
  absl::Mutex mu_;
  SubscribeStream* stream_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Notification started_;
  absl::Notification first_done_;
  std::atomic<int> done_{0};
};

class SubscribeStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&bridge_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = cdnwarm::v1::Bridge::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials()));
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
  // Subscribes as "w1" and waits for the stream's initial metadata.
  std::unique_ptr<grpc::ClientReader<cdnwarm::v1::Delivery>> Subscribe(grpc::ClientContext& ctx) {
    cdnwarm::v1::SubscribeRequest req;
    req.set_subscriber_id("w1");
    auto reader = stub_->Subscribe(&ctx, req);
    reader->WaitForInitialMetadata();
    return reader;
  }
  LoadedBridge bridge_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<cdnwarm::v1::Bridge::Stub> stub_;
};

TEST_F(SubscribeStreamTest, FinishesWhenTheSubscriberCancelsDuringABlockedWrite) {
  grpc::ClientContext ctx;
  auto reader = Subscribe(ctx);
  cdnwarm::v1::Delivery first;
  ASSERT_TRUE(reader->Read(&first));  // writes are flowing; the rest wait for window
  ctx.TryCancel();
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  ExpectDoneThenShutDown();
}

TEST_F(SubscribeStreamTest, FinishesWithTheBridgesStatusWhenEndedWithWritesQueued) {
  grpc::ClientContext ctx;
  auto reader = Subscribe(ctx);
  bridge_.started_.WaitForNotification();
  {
    absl::MutexLock lock(&bridge_.mu_);
    bridge_.stream_->End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "draining"));
  }
  cdnwarm::v1::Delivery d;
  int read = 0;
  while (reader->Read(&d)) ++read;
  EXPECT_LT(read, kDeliveries) << "what was queued is dropped, not written";
  const grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(status.error_message(), "draining");
  ExpectDoneThenShutDown();
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
