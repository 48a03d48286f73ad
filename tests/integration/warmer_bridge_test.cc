// The warmer's subscription loop against the real streamer-bridge (in-process) and the real
// broker: tasks written to the requests topic are warmed at a real origin and every one
// ends as a WARMED result on the results topic.

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "streamer-bridge/bridge_app.h"
#include "tests/support/kafka_test_client.h"
#include "tests/support/nginx_server.h"
#include "warmer/subscriber.h"

namespace cdnwarm {
namespace {

TEST(WarmerBridgeTest, WarmerWarmsWhatTheRealBridgeDeliversAndResultsReachKafka) {
  int origin_port = 0;
  auto origin = testing::StartTestOrigin(CDNWARM_TEST_PYTHON, CDNWARM_TEST_ORIGIN, &origin_port);
  ASSERT_TRUE(origin.ok()) << origin.status();

  const std::string suffix = absl::StrCat(absl::ToUnixMicros(absl::Now()));
  bridge::BridgeConfig bc;
  bc.common.kafka = testing::TestKafka();
  bc.common.requests_topic = absl::StrCat("it.wb.requests.", suffix);
  bc.common.results_topic = absl::StrCat("it.wb.results.", suffix);
  bc.common.dead_letter_topic = absl::StrCat("it.wb.dlq.", suffix);
  bc.common.topic_partitions = 3;
  bc.bridge.replica = "b1";
  bc.bridge.group_prefix = absl::StrCat("it.wb.", suffix);
  bc.bridge.consumer.kafka = bc.common.kafka;
  bc.bridge.consumer.topic = bc.common.requests_topic;
  bc.bridge.consumer.auto_offset_reset = "earliest";
  metrics::Registry registry;
  auto app = bridge::BridgeApp::Create(bc, registry);
  ASSERT_TRUE(app.ok()) << app.status();
  ASSERT_TRUE((*app)->runner().Start().ok());

  common::FetchGuard guard;
  guard.addresses = *common::AddressPolicy::Create({"127.0.0.0/8"});
  auto engine = warmer::HttpEngine::Create({}, guard, registry);
  ASSERT_TRUE(engine.ok());
  warmer::TaskWarmer task_warmer(**engine, guard, {.region = "eu", .warmer_id = "w1"});
  warmer::WarmerStats stats("eu", "w1", registry);
  common::Readiness readiness;
  warmer::Subscriber subscriber(
      {.region = "eu", .subscriber_id = "w1", .max_outstanding = 16},
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*app)->runner().grpc_port()),
                          grpc::InsecureChannelCredentials()),
      task_warmer, stats, readiness, registry);
  subscriber.Start();

  constexpr int kTasks = 50;
  std::vector<std::pair<std::string, std::string>> records;
  for (int i = 0; i < kTasks; ++i) {
    cdnwarm::v1::WarmTask t;
    t.set_task_id(absl::StrCat("j/", i));
    t.set_job_id("j");
    t.set_url(absl::StrCat("http://127.0.0.1:", origin_port, "/static/", i));
    records.emplace_back(t.url(), t.SerializeAsString());
  }
  ASSERT_TRUE(testing::ProduceRecords(bc.common.requests_topic, records).ok());

  std::set<std::string> warmed;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (warmed.size() < kTasks && absl::Now() < deadline) {
    absl::StatusOr<std::vector<testing::Record>> results =
        testing::ReadTopic(bc.common.results_topic);
    if (!results.ok()) {
      // A read racing the results being written is retried until the deadline.
      absl::SleepFor(absl::Milliseconds(200));  // polling Kafka
      continue;
    }
    for (const auto& r : *results) {
      cdnwarm::v1::WarmResult res;
      ASSERT_TRUE(res.ParseFromString(r.value));
      EXPECT_EQ(res.region(), "eu");
      if (res.outcome() == cdnwarm::v1::OUTCOME_WARMED && res.http_status() == 200) {
        warmed.insert(res.task_id());
      }
    }
    if (warmed.size() < kTasks) absl::SleepFor(absl::Milliseconds(200));  // polling Kafka
  }
  EXPECT_EQ(warmed.size(), static_cast<size_t>(kTasks));
  EXPECT_TRUE(readiness.Ready()) << "subscribed";
  subscriber.Drain(absl::Seconds(1));
  (*app)->runner().Shutdown();
  (*app)->runner().Wait();
}

}  // namespace
}  // namespace cdnwarm
