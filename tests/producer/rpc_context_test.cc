// RpcContext: what every Producer RPC checks first (drain, token), the deadline a record may
// wait for the broker (from the injected clock), and the per-RPC count.

#include "producer/rpc_context.h"

#include <string>

#include "gmock/gmock.h"
#include "grpcpp/server_context.h"
#include "gtest/gtest.h"
#include "tests/support/fake_clock.h"

namespace cdnwarm::producer {
namespace {

using ::testing::HasSubstr;

TEST(RpcContextTest, AdmitRefusesWhileDrainingAndWithoutTheToken) {
  metrics::Registry registry;
  const common::BearerAuth open;
  RpcContext rpc(open, absl::Seconds(30), registry);
  grpc::CallbackServerContext call;
  EXPECT_TRUE(rpc.Admit(call).ok());
  rpc.StartDrain();
  EXPECT_EQ(rpc.Admit(call).code(), absl::StatusCode::kUnavailable);

  const common::BearerAuth token = *common::BearerAuth::FromToken("0123456789abcdef");
  RpcContext guarded(token, absl::Seconds(30), registry);
  EXPECT_EQ(guarded.Admit(call).code(), absl::StatusCode::kUnauthenticated);
}

TEST(RpcContextTest, ARecordWaitsAtMostMaxWaitFromTheClock) {
  metrics::Registry registry;
  const common::BearerAuth open;
  cdnwarm::testing::FakeClock clock(absl::FromUnixSeconds(1'000'000));
  RpcContext rpc(open, absl::Seconds(30), registry, clock);
  grpc::CallbackServerContext call;  // no deadline from the caller
  EXPECT_EQ(rpc.RecordDeadline(call), absl::FromUnixSeconds(1'000'030));
  clock.Advance(absl::Seconds(5));
  EXPECT_EQ(rpc.RecordDeadline(call), absl::FromUnixSeconds(1'000'035));
}

TEST(RpcContextTest, CallsAreCountedByMethodAndCode) {
  metrics::Registry registry;
  const common::BearerAuth open;
  RpcContext rpc(open, absl::Seconds(30), registry);
  rpc.Count("Warm", grpc::Status::OK);
  rpc.Count("Warm", grpc::Status::OK);
  rpc.Count("GetJob", grpc::Status(grpc::StatusCode::NOT_FOUND, "no"));
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("cdnwarm_producer_rpcs_total{code=\"OK\",rpc=\"Warm\"} 2"));
  EXPECT_THAT(text, HasSubstr("cdnwarm_producer_rpcs_total{code=\"NOT_FOUND\",rpc=\"GetJob\"} 1"));
}

TEST(RpcContextTest, JobIdsAreNonEmptyAndBounded) {
  EXPECT_TRUE(CheckJobId("j0123").ok());
  EXPECT_THAT(std::string(CheckJobId("").message()), HasSubstr("job_id: is empty"));
  EXPECT_THAT(std::string(CheckJobId(std::string(65, 'j')).message()),
              HasSubstr("longer than 64 bytes"));
}

}  // namespace
}  // namespace cdnwarm::producer
