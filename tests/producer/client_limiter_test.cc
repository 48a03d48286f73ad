// ClientRateLimiter: a token bucket per client, with time as an input; ClientIdentity: who
// a call counts against, over TCP and over the in-process channel the console uses.

#include "producer/client_limiter.h"

#include <memory>
#include <string>

#include "common/core/contract.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"

namespace cdnwarm::producer {
namespace {

using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

TEST(ClientRateLimiterTest, NoRateIsUnlimited) {
  ClientRateLimiter l(0, 0);
  EXPECT_FALSE(l.enabled());
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(l.TryTake("", 1000, kT0).ok());
  EXPECT_EQ(l.Take("", 1e9, kT0), absl::ZeroDuration());
}

TEST(ClientRateLimiterTest, ABurstThenTheRateAndEachClientHasItsOwnBucket) {
  ClientRateLimiter l(/*rate=*/10, /*burst=*/5);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(l.TryTake("ip:a", 1, kT0).ok()) << i;
  const absl::Status over = l.TryTake("ip:a", 1, kT0);
  EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(over.message(), HasSubstr("10"));
  EXPECT_TRUE(l.TryTake("ip:b", 5, kT0).ok()) << "another client's bucket is full";
  // 10 per second: after 100 ms one more token.
  EXPECT_TRUE(l.TryTake("ip:a", 1, kT0 + absl::Milliseconds(100)).ok());
  EXPECT_FALSE(l.TryTake("ip:a", 1, kT0 + absl::Milliseconds(100)).ok());
  // Never above the burst, however long the client was idle.
  EXPECT_TRUE(l.TryTake("ip:a", 5, kT0 + absl::Hours(1)).ok());
  EXPECT_FALSE(l.TryTake("ip:a", 1, kT0 + absl::Hours(1)).ok());
}

TEST(ClientRateLimiterTest, TakeGoesIntoDebtAndSaysHowLongToWait) {
  ClientRateLimiter l(/*rate=*/100, /*burst=*/10);
  EXPECT_EQ(l.Take("cn:pipeline", 10, kT0), absl::ZeroDuration());
  // 50 more than it holds: half a second at 100/s.
  EXPECT_EQ(l.Take("cn:pipeline", 50, kT0), absl::Milliseconds(500));
  // The debt is paid back by time, not forgiven.
  EXPECT_FALSE(l.TryTake("cn:pipeline", 1, kT0 + absl::Milliseconds(400)).ok());
  EXPECT_TRUE(l.TryTake("cn:pipeline", 1, kT0 + absl::Milliseconds(510)).ok());
}

// Answers Check with the caller's ClientIdentity in the status text (NOT_FOUND carries it).
class Identify final : public ::grpc::health::v1::Health::Service {
  grpc::Status Check(grpc::ServerContext* ctx, const ::grpc::health::v1::HealthCheckRequest*,
                     ::grpc::health::v1::HealthCheckResponse*) override {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, ClientIdentity(*ctx));
  }
};

class ClientIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override { server_->Shutdown(); }

  // The identity the server sees for a call on `channel`, with `console` in the console's
  // metadata key when set.
  static std::string IdentityOn(const std::shared_ptr<grpc::Channel>& channel,
                                const std::string& console) {
    grpc::ClientContext ctx;
    if (!console.empty()) ctx.AddMetadata(common::kConsoleClientMetadata, console);
    ::grpc::health::v1::HealthCheckResponse response;
    const grpc::Status s = ::grpc::health::v1::Health::NewStub(channel)->Check(
        &ctx, ::grpc::health::v1::HealthCheckRequest(), &response);
    return s.error_code() == grpc::StatusCode::NOT_FOUND ? s.error_message() : "call failed";
  }

  Identify service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(ClientIdentityTest, ATcpCallerIsItsAddressWhateverItsMetadataSays) {
  const auto tcp =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials());
  EXPECT_EQ(IdentityOn(tcp, ""), "ip:127.0.0.1");
  EXPECT_EQ(IdentityOn(tcp, "203.0.113.9"), "ip:127.0.0.1") << "a remote caller named a bucket";
}

TEST_F(ClientIdentityTest, TheConsolesInProcessCallsAreTheBrowserTheyName) {
  const auto inproc = server_->InProcessChannel(grpc::ChannelArguments());
  EXPECT_EQ(IdentityOn(inproc, "203.0.113.9"), "console:203.0.113.9");
  EXPECT_EQ(IdentityOn(inproc, "198.51.100.7"), "console:198.51.100.7");
  EXPECT_THAT(IdentityOn(inproc, ""), ::testing::StartsWith("ip:"));
}

}  // namespace
}  // namespace cdnwarm::producer
