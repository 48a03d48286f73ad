// The warmer's subscription loop against the real streamer-bridge (in-process) and the real
// broker: tasks written to the requests topic are warmed at a real nginx edge and every one
// ends as a WARMED result (the verify request a HIT) on the results topic; a warmer that drains (a
// rolling update) hands its work to the others without using up attempts.

#include <map>
#include <memory>
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

class WarmerBridgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto origin = testing::StartTestOrigin(CDNWARM_TEST_PYTHON, CDNWARM_TEST_ORIGIN, &origin_port_);
    ASSERT_TRUE(origin.ok()) << origin.status();
    origin_ = *std::move(origin);
    auto edge = testing::StartCachingEdge(origin_port_);
    ASSERT_TRUE(edge.ok()) << edge.status();
    edge_ = *std::move(edge);
    const std::string suffix = absl::StrCat(absl::ToUnixMicros(absl::Now()));
    bc_.kafka.properties = testing::TestKafka();
    bc_.kafka.requests_topic = absl::StrCat("it.wb.requests.", suffix);
    bc_.kafka.results_topic = absl::StrCat("it.wb.results.", suffix);
    bc_.kafka.dead_letter_topic = absl::StrCat("it.wb.dlq.", suffix);
    bc_.kafka.topic_partitions = 3;
    bc_.bridge.replica = "b1";
    bc_.bridge.group_prefix = absl::StrCat("it.wb.", suffix);
    bc_.bridge.consumer.kafka = bc_.kafka.properties;
    bc_.bridge.consumer.topic = bc_.kafka.requests_topic;
    bc_.bridge.consumer.auto_offset_reset = "earliest";
    guard_.addresses = *common::AddressPolicy::Create({"127.0.0.0/8"});
    auto engine = warmer::HttpEngine::Create({}, guard_, registry_);
    ASSERT_TRUE(engine.ok());
    engine_ = *std::move(engine);
  }
  void TearDown() override {
    warmers_.clear();
    if (app_) {
      app_->runner().Shutdown();
      app_->runner().Wait();
    }
  }

  void StartBridge() {
    auto app = bridge::BridgeApp::Create(bc_, registry_);
    ASSERT_TRUE(app.ok()) << app.status();
    app_ = *std::move(app);
    ASSERT_TRUE(app_->runner().Start().ok());
  }

  // One warmer replica of region eu: its own task warmer, stats and subscriber.
  struct Warmer {
    std::unique_ptr<warmer::TaskWarmer> task_warmer;
    std::unique_ptr<warmer::WarmerStats> stats;
    common::Readiness readiness;
    std::unique_ptr<warmer::Subscriber> subscriber;
  };
  Warmer& StartWarmer(const std::string& id, uint32_t credit) {
    auto w = std::make_unique<Warmer>();
    w->task_warmer = std::make_unique<warmer::TaskWarmer>(
        *engine_, guard_, warmer::TaskWarmerOptions{.region = "eu", .warmer_id = id});
    w->stats = std::make_unique<warmer::WarmerStats>("eu", id, registry_);
    w->subscriber = std::make_unique<warmer::Subscriber>(
        warmer::SubscriberOptions{.region = "eu", .subscriber_id = id, .max_outstanding = credit},
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", app_->runner().grpc_port()),
                            grpc::InsecureChannelCredentials()),
        *w->task_warmer, *w->stats, w->readiness, registry_);
    w->subscriber->Start();
    warmers_.push_back(std::move(w));
    return *warmers_.back();
  }

  void Produce(const std::vector<std::string>& paths) {
    std::vector<std::pair<std::string, std::string>> records;
    for (size_t i = 0; i < paths.size(); ++i) {
      cdnwarm::v1::WarmTask t;
      t.set_task_id(absl::StrCat("j/", i));
      t.set_job_id("j");
      t.set_url(edge_->url(paths[i]));
      records.emplace_back(t.url(), t.SerializeAsString());
    }
    ASSERT_TRUE(testing::ProduceRecords(bc_.kafka.requests_topic, records).ok());
  }

  // The results on the results topic by task id (the last one of each), once `want` tasks
  // have one or the deadline passes.
  std::map<std::string, cdnwarm::v1::WarmResult> Results(size_t want) {
    std::map<std::string, cdnwarm::v1::WarmResult> out;
    const absl::Time deadline = absl::Now() + absl::Seconds(90);
    while (out.size() < want && absl::Now() < deadline) {
      absl::StatusOr<std::vector<testing::Record>> results =
          testing::ReadTopic(bc_.kafka.results_topic);
      if (results.ok()) {
        for (const auto& r : *results) {
          cdnwarm::v1::WarmResult res;
          EXPECT_TRUE(res.ParseFromString(r.value));
          out[res.task_id()] = res;
        }
      }
      if (out.size() < want) absl::SleepFor(absl::Milliseconds(200));  // polling Kafka
    }
    return out;
  }

  int origin_port_ = 0;
  std::unique_ptr<testing::NginxServer> edge_;
  std::unique_ptr<testing::ChildProcess> origin_;
  bridge::BridgeConfig bc_;
  metrics::Registry registry_;
  common::FetchGuard guard_;
  std::unique_ptr<warmer::HttpEngine> engine_;
  std::unique_ptr<bridge::BridgeApp> app_;
  std::vector<std::unique_ptr<Warmer>> warmers_;
};

TEST_F(WarmerBridgeTest, WarmerWarmsWhatTheRealBridgeDeliversAndResultsReachKafka) {
  StartBridge();
  Warmer& w = StartWarmer("w1", 16);
  constexpr int kTasks = 50;
  std::vector<std::string> paths;
  for (int i = 0; i < kTasks; ++i) paths.push_back(absl::StrCat("/static/", i));
  Produce(paths);
  const auto results = Results(kTasks);
  int warmed = 0;
  for (const auto& [id, r] : results) {
    EXPECT_EQ(r.region(), "eu");
    warmed += r.outcome() == cdnwarm::v1::OUTCOME_WARMED && r.http_status() == 200 &&
              r.cache_after() == cdnwarm::v1::CACHE_STATUS_HIT;
  }
  EXPECT_EQ(warmed, kTasks);
  EXPECT_TRUE(w.readiness.Ready()) << "subscribed";
  w.subscriber->Drain(absl::Seconds(1));
}

// One step of a rolling update: a warmer with the most credit (so it gets the most) drains
// while it holds slow warms and more work keeps coming. With max_attempts 1, any hand-back
// counted as an attempt would dead-letter a task nobody fetched; a drain's releases are
// not attempts, so every task is warmed by the other warmer on its first attempt.
TEST_F(WarmerBridgeTest, ADrainingWarmerHandsItsWorkOnWithoutUsingAttempts) {
  bc_.bridge.region.max_attempts = 1;
  StartBridge();
  Warmer& leaving = StartWarmer("leaving", 64);
  Warmer& staying = StartWarmer("staying", 8);
  std::vector<std::string> paths;
  for (int i = 0; i < 30; ++i) paths.push_back(absl::StrCat("/slow?ms=1500&n=", i));
  for (int i = 0; i < 90; ++i) paths.push_back(absl::StrCat("/static/d", i));
  Produce(paths);
  // Drain as soon as the leaving warmer has work in hand.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (leaving.stats->Snapshot().deliveries() == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));  // polling a counter, with a deadline
  }
  ASSERT_GT(leaving.stats->Snapshot().deliveries(), 0u);
  leaving.subscriber->Drain(absl::Milliseconds(200));
  const auto results = Results(paths.size());
  ASSERT_EQ(results.size(), paths.size());
  for (const auto& [id, r] : results) {
    EXPECT_EQ(r.outcome(), cdnwarm::v1::OUTCOME_WARMED) << id << ": " << r.error();
    EXPECT_EQ(r.attempts(), 1u) << id;
  }
  absl::StatusOr<std::vector<testing::Record>> dead =
      testing::ReadTopic(bc_.kafka.dead_letter_topic);
  ASSERT_TRUE(dead.ok());
  EXPECT_TRUE(dead->empty()) << dead->size() << " dead-lettered without a fetch";
  EXPECT_GT(staying.stats->Snapshot().deliveries(), 0u);
}

}  // namespace
}  // namespace cdnwarm
