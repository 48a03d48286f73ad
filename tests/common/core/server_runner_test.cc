#include "common/core/server_runner.h"

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/support/http_get.h"

namespace cdnwarm::common {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

HealthCheckResponse::ServingStatus Check(Health::Stub& stub, const std::string& service = "") {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  HealthCheckRequest req;
  req.set_service(service);
  HealthCheckResponse resp;
  const grpc::Status s = stub.Check(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp.status();
}

TEST(ServerRunnerTest, HealthFollowsReadinessAndDrainRunsHooks) {
  metrics::Registry registry;
  ServerRunner runner({.drain_timeout = absl::Seconds(5)}, registry);
  absl::Notification hook_ran;
  runner.OnDrain([&] { hook_ran.Notify(); });
  runner.readiness().Set("kafka", false);
  ASSERT_TRUE(runner.Start().ok());
  ASSERT_GT(runner.grpc_port(), 0);

  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", runner.grpc_port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = Health::NewStub(channel);
  EXPECT_EQ(Check(*stub), HealthCheckResponse::NOT_SERVING);
  // Not ready, but alive: a liveness probe must not restart it.
  EXPECT_EQ(Check(*stub, std::string(kLivenessService)), HealthCheckResponse::SERVING);
  runner.readiness().Set("kafka", true);
  EXPECT_EQ(Check(*stub), HealthCheckResponse::SERVING);
  runner.readiness().Set("kafka", false);
  EXPECT_EQ(Check(*stub), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(Check(*stub, std::string(kLivenessService)), HealthCheckResponse::SERVING);
  runner.readiness().Set("kafka", true);
  EXPECT_EQ(Check(*stub), HealthCheckResponse::SERVING);
  EXPECT_EQ(
      testing::HttpGet(absl::StrCat("http://127.0.0.1:", runner.admin_port(), "/readyz")).status,
      200);

  runner.Shutdown();
  runner.Wait();
  EXPECT_TRUE(hook_ran.HasBeenNotified());
  // After the drain the port no longer answers.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  HealthCheckResponse resp;
  EXPECT_FALSE(stub->Check(&ctx, HealthCheckRequest(), &resp).ok());
}

TEST(ServerRunnerTest, PortInUseIsAClearError) {
  metrics::Registry registry;
  ServerRunner first({}, registry);
  ASSERT_TRUE(first.Start().ok());
  ServerRunner second({.grpc_address = absl::StrCat("127.0.0.1:", first.grpc_port())}, registry);
  const absl::Status s = second.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), ::testing::HasSubstr(absl::StrCat(":", first.grpc_port())));
}

TEST(ServerRunnerTest, AStartedHookThatFailsIsStartsErrorAndStopsTheServers) {
  metrics::Registry registry;
  ServerRunner runner({.drain_timeout = absl::Seconds(5)}, registry);
  bool channel_ok = false;
  runner.OnStarted([&] {
    channel_ok = runner.InProcessChannel() != nullptr;  // the server serves by then
    return absl::InvalidArgumentError("--console_dir: no index.html");
  });
  const absl::Status s = runner.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "--console_dir: no index.html");
  EXPECT_TRUE(channel_ok);
  runner.readiness().Set("kafka", false);  // no listener left on the freed health service
}

}  // namespace
}  // namespace cdnwarm::common
