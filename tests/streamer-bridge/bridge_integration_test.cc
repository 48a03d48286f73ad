// The streamer-bridge in-process against the real broker, with C++ gRPC subscribers:
// fan-out to every region, credit shared inside a region, commits that never pass an
// unacked delivery, redelivery when a stream ends, retries into the dead-letter topic, and
// clear answers to bad input.

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "cdnwarm/v1/bridge.grpc.pb.h"
#include "common/core/naming.h"
#include "common/core/proto_time.h"
#include "common/kafka/kafka_handles.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "streamer-bridge/bridge_app.h"
#include "streamer-bridge/result_publisher.h"
#include "tests/support/kafka_test_client.h"
#include "tests/support/test_subscriber.h"

namespace cdnwarm::bridge {
namespace {

using Stub = cdnwarm::v1::Bridge::Stub;

using testing::TestSubscriber;

class BridgeIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string suffix = absl::StrCat(absl::ToUnixMicros(absl::Now()));
    config_.common.service = "streamer-bridge";
    config_.kafka.properties = testing::TestKafka();
    config_.kafka.requests_topic = absl::StrCat("it.bridge.requests.", suffix);
    config_.kafka.results_topic = absl::StrCat("it.bridge.results.", suffix);
    config_.kafka.dead_letter_topic = absl::StrCat("it.bridge.dlq.", suffix);
    config_.seek.control_topic = absl::StrCat("it.bridge.control.", suffix);
    config_.seek.timeout = absl::Seconds(20);
    config_.common.server.drain_timeout = absl::Seconds(2);
    config_.kafka.topic_partitions = 3;
    BridgeOptions& b = config_.bridge;
    b.replica = "b1";
    b.group_prefix = absl::StrCat("it.bridge.", suffix);
    b.consumer.kafka = config_.kafka.properties;
    b.consumer.topic = config_.kafka.requests_topic;
    b.consumer.auto_offset_reset = "earliest";
    b.region.max_attempts = 3;
    b.region.min_backoff = absl::Milliseconds(50);
    b.region.max_backoff = absl::Milliseconds(200);
    b.idle_grace = absl::Seconds(2);
  }

  void StartBridge() { Launch(config_, registry_, &app_, &stub_); }

  // A second replica of the same deployment (same topics and groups), as Kubernetes runs
  // two.
  void StartSecondReplica(const std::string& control_topic = "") {
    BridgeConfig c = config_;
    c.bridge.replica = "b2";
    if (!control_topic.empty()) c.seek.control_topic = control_topic;
    Launch(c, registry2_, &app2_, &stub2_);
  }

  // A bridge serving on a free port, and a stub of it.
  static void Launch(const BridgeConfig& config, metrics::Registry& registry,
                     std::unique_ptr<BridgeApp>* app, std::unique_ptr<Stub>* stub) {
    absl::StatusOr<std::unique_ptr<BridgeApp>> created = BridgeApp::Create(config, registry);
    ASSERT_TRUE(created.ok()) << created.status();
    *app = *std::move(created);
    ASSERT_TRUE((*app)->runner().Start().ok());
    *stub = cdnwarm::v1::Bridge::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*app)->runner().grpc_port()),
                            grpc::InsecureChannelCredentials()));
  }

  // What `stub`'s replica says about region "eu".
  static cdnwarm::v1::RegionInfo EuInfo(Stub& stub) {
    grpc::ClientContext ctx;
    cdnwarm::v1::ListSubscriptionsRequest req;
    req.set_region("eu");
    cdnwarm::v1::ListSubscriptionsReply reply;
    EXPECT_TRUE(stub.ListSubscriptions(&ctx, req, &reply).ok());
    return reply.regions_size() == 1 ? reply.regions(0) : cdnwarm::v1::RegionInfo();
  }

  // True once `cond` holds, false if it does not within a minute.
  static bool Await(const std::function<bool()>& cond) {
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (!cond()) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(100));  // polling a condition, with a deadline
    }
    return true;
  }

  // Partitions of `region` each replica holds, once both hold some (the group settled).
  bool BothReplicasHoldPartitions(const std::string& region) {
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (absl::Now() < deadline) {
      int holding = 0;
      for (Stub* stub : {stub_.get(), stub2_.get()}) {
        grpc::ClientContext ctx;
        cdnwarm::v1::ListSubscriptionsRequest req;
        cdnwarm::v1::ListSubscriptionsReply reply;
        if (!stub->ListSubscriptions(&ctx, req, &reply).ok()) continue;
        for (const auto& r : reply.regions()) {
          if (r.region() == region && r.partitions_size() > 0) ++holding;
        }
      }
      if (holding == 2) return true;
      absl::SleepFor(absl::Milliseconds(200));  // polling the group's assignment, bounded
    }
    return false;
  }

  void TearDown() override {
    subscribers_.clear();
    if (app2_) {
      app2_->runner().Shutdown();
      app2_->runner().Wait();
      app2_.reset();
    }
    if (app_) {
      app_->runner().Shutdown();
      app_->runner().Wait();
      app_.reset();
    }
  }

  TestSubscriber& Subscribe(const std::string& region, const std::string& id, uint32_t credit,
                            absl::Duration deadline = absl::Seconds(60), Stub* stub = nullptr) {
    subscribers_.push_back(std::make_unique<TestSubscriber>(stub != nullptr ? *stub : *stub_,
                                                            region, id, credit, deadline));
    return *subscribers_.back();
  }

  void ProduceTasks(int n, int first = 0) {
    std::vector<std::pair<std::string, std::string>> records;
    for (int i = first; i < first + n; ++i) {
      cdnwarm::v1::WarmTask t;
      t.set_task_id(absl::StrCat("j/", i));
      t.set_job_id("j");
      t.set_url(absl::StrCat("https://example.com/", i));
      records.emplace_back(t.url(), t.SerializeAsString());
    }
    ASSERT_TRUE(testing::ProduceRecords(config_.kafka.requests_topic, records).ok());
  }

  // The group's committed offsets as the broker has them.
  std::map<int32_t, int64_t> BrokerCommitted(const std::string& region) {
    common::KafkaProperties p = testing::TestKafka();
    p.Set("group.id", *common::RegionGroup(config_.bridge.group_prefix, region, ""));
    absl::StatusOr<common::KafkaConfPtr> conf = p.ToConf();
    char err[256];
    common::KafkaPtr rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), err, sizeof(err)));
    conf->release();
    common::KafkaTopicPartitionListPtr list(rd_kafka_topic_partition_list_new(3));
    for (int i = 0; i < 3; ++i) {
      rd_kafka_topic_partition_list_add(list.get(), config_.kafka.requests_topic.c_str(), i);
    }
    std::map<int32_t, int64_t> out;
    if (rd_kafka_committed(rk.get(), list.get(), 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) return out;
    for (int i = 0; i < list->cnt; ++i) out[list->elems[i].partition] = list->elems[i].offset;
    rd_kafka_consumer_close(rk.get());
    return out;
  }

  std::map<int32_t, int64_t> EndOffsets() {
    absl::StatusOr<std::vector<testing::Record>> records =
        testing::ReadTopic(config_.kafka.requests_topic);
    std::map<int32_t, int64_t> end = {{0, 0}, {1, 0}, {2, 0}};
    for (const auto& r : *records) end[r.partition] = std::max(end[r.partition], r.offset + 1);
    return end;
  }

  bool CommittedReaches(const std::string& region, const std::map<int32_t, int64_t>& end) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline) {
      std::map<int32_t, int64_t> c = BrokerCommitted(region);
      bool all = true;
      for (const auto& [p, e] : end) all = all && (e == 0 || (c.count(p) && c[p] == e));
      if (all) return true;
      absl::SleepFor(absl::Milliseconds(200));  // polling the broker with a deadline
    }
    return false;
  }

  BridgeConfig config_;
  metrics::Registry registry_;
  std::unique_ptr<BridgeApp> app_;
  std::unique_ptr<Stub> stub_;
  metrics::Registry registry2_;
  std::unique_ptr<BridgeApp> app2_;
  std::unique_ptr<Stub> stub2_;
  std::vector<std::unique_ptr<TestSubscriber>> subscribers_;
};

TEST_F(BridgeIntegrationTest, EveryRegionGetsEveryTaskSharedByItsSubscribersAndCommitsReachTheEnd) {
  StartBridge();
  constexpr int kTasks = 5000;
  const std::vector<std::string> regions = {"eu", "us", "ap"};
  std::map<std::string, std::vector<TestSubscriber*>> subs;
  for (const std::string& r : regions) {
    subs[r] = {&Subscribe(r, r + "-1", 50), &Subscribe(r, r + "-2", 50)};
  }
  ProduceTasks(kTasks);
  std::map<std::string, std::set<std::string>> acked;
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  bool complete = false;
  while (!complete && absl::Now() < deadline) {
    complete = true;
    for (const std::string& r : regions) {
      for (TestSubscriber* s : subs[r]) {
        s->WaitUntil([](const auto& v) { return !v.empty(); }, absl::Milliseconds(50));
        std::vector<cdnwarm::v1::Delivery> got = s->Take();
        if (got.empty()) continue;
        for (auto status : s->Ack(got, cdnwarm::v1::ACK_OUTCOME_WARMED)) {
          EXPECT_EQ(status, cdnwarm::v1::ACK_STATUS_OK);
        }
        for (const auto& d : got) acked[r].insert(d.task().task_id());
      }
      complete = complete && acked[r].size() == kTasks;
    }
  }
  for (const std::string& r : regions) {
    EXPECT_EQ(acked[r].size(), static_cast<size_t>(kTasks)) << r;
    EXPECT_GT(subs[r][0]->received(), 0u) << r << ": both subscribers get a share";
    EXPECT_GT(subs[r][1]->received(), 0u) << r;
  }
  const std::map<int32_t, int64_t> end = EndOffsets();
  for (const std::string& r : regions) EXPECT_TRUE(CommittedReaches(r, end)) << r;
  // Every finished delivery produced a result.
  absl::StatusOr<std::vector<testing::Record>> results =
      testing::ReadTopic(config_.kafka.results_topic);
  ASSERT_TRUE(results.ok());
  std::map<std::string, std::set<std::string>> result_ids;
  for (const auto& rec : *results) {
    cdnwarm::v1::WarmResult res;
    ASSERT_TRUE(res.ParseFromString(rec.value));
    EXPECT_EQ(res.outcome(), cdnwarm::v1::OUTCOME_WARMED);
    EXPECT_EQ(rec.key, res.job_id()) << "results are keyed by job, as common.proto says";
    result_ids[res.region()].insert(res.task_id());
  }
  for (const std::string& r : regions) EXPECT_EQ(result_ids[r].size(), static_cast<size_t>(kTasks));
}

TEST_F(BridgeIntegrationTest, CommittedOffsetNeverPassesAnUnackedDelivery) {
  StartBridge();
  TestSubscriber& s = Subscribe("eu", "w1", 200);
  ProduceTasks(100);
  ASSERT_TRUE(s.WaitUntil([](const auto& v) { return v.size() == 100; }));
  std::vector<cdnwarm::v1::Delivery> got = s.Take();
  // Hold back one delivery in the middle; ack the rest in reverse order.
  const cdnwarm::v1::Delivery held = got[50];
  got.erase(got.begin() + 50);
  std::reverse(got.begin(), got.end());
  s.Ack(got, cdnwarm::v1::ACK_OUTCOME_WARMED);
  const std::map<int32_t, int64_t> end = EndOffsets();
  // Find the held task's partition and offset from the requests topic.
  absl::StatusOr<std::vector<testing::Record>> records =
      testing::ReadTopic(config_.kafka.requests_topic);
  int32_t held_partition = -1;
  int64_t held_offset = -1;
  for (const auto& r : *records) {
    cdnwarm::v1::WarmTask t;
    t.ParseFromString(r.value);
    if (t.task_id() == held.task().task_id()) {
      held_partition = r.partition;
      held_offset = r.offset;
    }
  }
  ASSERT_GE(held_partition, 0);
  // The other partitions are committed to their end while the held one's stops at it.
  std::map<int32_t, int64_t> others = end;
  others.erase(held_partition);
  EXPECT_TRUE(CommittedReaches("eu", others));
  for (int i = 0; i < 5; ++i) {
    std::map<int32_t, int64_t> c = BrokerCommitted("eu");
    if (c.count(held_partition) > 0) {
      EXPECT_LE(c[held_partition], held_offset);
    }
    absl::SleepFor(absl::Milliseconds(300));  // sampling over several commit intervals
  }
  s.Ack({held}, cdnwarm::v1::ACK_OUTCOME_WARMED);
  EXPECT_TRUE(CommittedReaches("eu", end));
}

TEST_F(BridgeIntegrationTest, EndedStreamsDeliveriesGoToTheOtherSubscriber) {
  StartBridge();
  TestSubscriber& a = Subscribe("eu", "a", 10);
  ProduceTasks(30);
  ASSERT_TRUE(a.WaitUntil([](const auto& v) { return v.size() == 10; }));
  const std::vector<cdnwarm::v1::Delivery> held = a.Take();
  TestSubscriber& b = Subscribe("eu", "b", 100);
  a.Cancel();  // with 10 unacked deliveries
  std::set<std::string> done;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (done.size() < 30 && absl::Now() < deadline) {
    b.WaitUntil([](const auto& v) { return !v.empty(); }, absl::Milliseconds(100));
    std::vector<cdnwarm::v1::Delivery> got = b.Take();
    if (!got.empty()) b.Ack(got, cdnwarm::v1::ACK_OUTCOME_WARMED);
    for (const auto& d : got) done.insert(d.task().task_id());
  }
  EXPECT_EQ(done.size(), 30u) << "none lost";
  for (const auto& d : held) EXPECT_TRUE(done.count(d.task().task_id())) << d.task().task_id();
}

TEST_F(BridgeIntegrationTest, NacksRedeliverWithGrowingAttemptsThenDeadLetter) {
  StartBridge();
  TestSubscriber& s = Subscribe("eu", "w1", 5);
  ProduceTasks(1);
  std::vector<uint32_t> attempts;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(s.WaitUntil([i](const auto& v) { return static_cast<int>(v.size()) > i; }));
    std::vector<cdnwarm::v1::Delivery> got = s.Take();
    ASSERT_EQ(got.size(), 1u);
    attempts.push_back(got[0].delivery_attempt());
    s.Ack(got, cdnwarm::v1::ACK_OUTCOME_RETRY);
  }
  EXPECT_THAT(attempts, ::testing::ElementsAre(1u, 2u, 3u));
  const std::map<int32_t, int64_t> end = EndOffsets();
  EXPECT_TRUE(CommittedReaches("eu", end)) << "the partition moves on";
  absl::StatusOr<std::vector<testing::Record>> dlq =
      testing::ReadTopic(config_.kafka.dead_letter_topic);
  ASSERT_TRUE(dlq.ok());
  ASSERT_EQ(dlq->size(), 1u);
  cdnwarm::v1::WarmTask t;
  ASSERT_TRUE(t.ParseFromString((*dlq)[0].value));
  EXPECT_EQ(t.task_id(), "j/0");
}

TEST_F(BridgeIntegrationTest, ExpiredAckDeadlineRedelivers) {
  StartBridge();
  TestSubscriber& s = Subscribe("eu", "w1", 5, absl::Seconds(1));
  ProduceTasks(1);
  ASSERT_TRUE(s.WaitUntil([](const auto& v) { return v.size() == 2; }, absl::Seconds(30)))
      << "redelivered after the 1 s deadline";
  std::vector<cdnwarm::v1::Delivery> got = s.Take();
  EXPECT_EQ(got[1].delivery_attempt(), 2u);
  EXPECT_THAT(s.Ack({got[0]}, cdnwarm::v1::ACK_OUTCOME_WARMED),
              ::testing::ElementsAre(cdnwarm::v1::ACK_STATUS_STALE));
  EXPECT_THAT(s.Ack({got[1]}, cdnwarm::v1::ACK_OUTCOME_WARMED),
              ::testing::ElementsAre(cdnwarm::v1::ACK_STATUS_OK));
}

TEST_F(BridgeIntegrationTest, BadInputGetsClearErrorsAndDamagesNothing) {
  StartBridge();
  auto refused = [&](const std::string& region, const std::string& id, uint32_t credit) {
    TestSubscriber s(*stub_, region, id, credit);
    s.WaitUntil([](const auto&) { return false; }, absl::Seconds(5));
    return s.status();
  };
  EXPECT_EQ(refused("EU West", "w", 5).error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(refused("EU West", "w", 5).error_message(), ::testing::HasSubstr("region"));
  EXPECT_EQ(refused("eu", "w", 0).error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(refused("eu", "w", 1u << 30).error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(refused("eu", "", 5).error_code(), grpc::INVALID_ARGUMENT);

  TestSubscriber& owner = Subscribe("eu", "owner", 5);
  ASSERT_TRUE(owner.WaitSubscribed());
  EXPECT_EQ(refused("eu", "owner", 5).error_code(), grpc::ALREADY_EXISTS);
  ProduceTasks(1);
  ASSERT_TRUE(owner.WaitUntil([](const auto& v) { return v.size() == 1; }));
  std::vector<cdnwarm::v1::Delivery> got = owner.Take();
  cdnwarm::v1::Delivery garbage;
  garbage.set_ack_id("not-an-ack-id");
  EXPECT_THAT(owner.Ack({garbage}, cdnwarm::v1::ACK_OUTCOME_WARMED),
              ::testing::ElementsAre(cdnwarm::v1::ACK_STATUS_INVALID));
  EXPECT_THAT(owner.Ack(got, cdnwarm::v1::ACK_OUTCOME_WARMED, "intruder"),
              ::testing::ElementsAre(cdnwarm::v1::ACK_STATUS_WRONG_SUBSCRIBER));
  EXPECT_THAT(owner.Ack(got, cdnwarm::v1::ACK_OUTCOME_WARMED),
              ::testing::ElementsAre(cdnwarm::v1::ACK_STATUS_OK));
  cdnwarm::v1::ListSubscriptionsRequest list_req;
  cdnwarm::v1::ListSubscriptionsReply list;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->ListSubscriptions(&ctx, list_req, &list).ok());
  ASSERT_EQ(list.regions_size(), 1);
  EXPECT_EQ(list.regions(0).subscribers_size(), 1);
  EXPECT_EQ(list.regions(0).outstanding(), 0u);
}

TEST_F(BridgeIntegrationTest, SeekEarliestReplaysTheRegionsBacklog) {
  StartBridge();
  TestSubscriber& s = Subscribe("eu", "w1", 100);
  ProduceTasks(20);
  ASSERT_TRUE(s.WaitUntil([](const auto& v) { return v.size() == 20; }));
  s.Ack(s.Take(), cdnwarm::v1::ACK_OUTCOME_WARMED);
  ASSERT_TRUE(CommittedReaches("eu", EndOffsets()));

  cdnwarm::v1::SeekRequest seek;
  seek.set_region("eu");
  seek.set_earliest(true);
  cdnwarm::v1::SeekReply reply;
  grpc::ClientContext ctx;
  grpc::Status st = stub_->Seek(&ctx, seek, &reply);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(reply.partitions_size(), 3);
  ASSERT_TRUE(s.WaitUntil([](const auto& v) { return v.size() == 40; }))
      << "the 20 tasks are delivered again";
  std::set<std::string> again;
  for (const auto& d : s.Take()) again.insert(d.task().task_id());
  EXPECT_EQ(again.size(), 20u);

  seek.set_region("nowhere");
  grpc::ClientContext ctx2;
  EXPECT_EQ(stub_->Seek(&ctx2, seek, &reply).error_code(), grpc::FAILED_PRECONDITION);
}

// With two replicas (the Kubernetes base runs two), each holds some of the region's
// partitions. A Seek called on one of them moves every partition, whichever replica holds
// it, and says which replica moved which; it used to move only the caller's own.
TEST_F(BridgeIntegrationTest, SeekMovesEveryPartitionWhicheverReplicaHoldsIt) {
  StartBridge();
  StartSecondReplica();
  TestSubscriber& s1 = Subscribe("eu", "w1", 100);
  TestSubscriber& s2 = Subscribe("eu", "w2", 100, absl::Seconds(60), stub2_.get());
  ASSERT_TRUE(BothReplicasHoldPartitions("eu"));
  ProduceTasks(30);
  std::vector<cdnwarm::v1::Delivery> first;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (first.size() < 30 && absl::Now() < deadline) {
    for (TestSubscriber* s : {&s1, &s2}) {
      std::vector<cdnwarm::v1::Delivery> got = s->Take();
      if (got.empty()) continue;
      s->Ack(got, cdnwarm::v1::ACK_OUTCOME_WARMED);
      first.insert(first.end(), got.begin(), got.end());
    }
    absl::SleepFor(absl::Milliseconds(50));  // polling the subscribers, bounded
  }
  ASSERT_EQ(first.size(), 30u);
  ASSERT_TRUE(CommittedReaches("eu", EndOffsets()));

  cdnwarm::v1::SeekRequest seek;
  seek.set_region("eu");
  seek.set_earliest(true);
  cdnwarm::v1::SeekReply reply;
  grpc::ClientContext ctx;
  const grpc::Status st = stub_->Seek(&ctx, seek, &reply);
  ASSERT_TRUE(st.ok()) << st.error_message();
  std::set<int32_t> moved;
  std::set<std::string> replicas;
  for (const auto& p : reply.partitions()) {
    moved.insert(p.partition());
    replicas.insert(p.replica());
    EXPECT_EQ(p.committed_offset(), 0) << "partition " << p.partition();
  }
  EXPECT_EQ(moved, (std::set<int32_t>{0, 1, 2}));
  EXPECT_EQ(replicas, (std::set<std::string>{"b1", "b2"}));
  const std::map<int32_t, int64_t> committed = BrokerCommitted("eu");
  for (int32_t p : {0, 1, 2}) EXPECT_EQ(committed.at(p), 0) << "partition " << p;
  EXPECT_TRUE(s1.WaitUntil([](const auto& v) { return !v.empty(); }));
  EXPECT_TRUE(s2.WaitUntil([](const auto& v) { return !v.empty(); }))
      << "the partitions the second replica holds are replayed too";
}

// A replica that never reports (here it listens on another control topic, as a replica
// of an older version would not listen at all): the seek moves what the others hold and
// fails naming the partitions nobody moved, instead of answering OK for part of the region.
TEST_F(BridgeIntegrationTest, APartialSeekFailsNamingThePartitionsNobodyMoved) {
  config_.seek.timeout = absl::Seconds(3);
  StartBridge();
  StartSecondReplica(config_.seek.control_topic + ".other");
  Subscribe("eu", "w1", 100);
  Subscribe("eu", "w2", 100, absl::Seconds(60), stub2_.get());
  ASSERT_TRUE(BothReplicasHoldPartitions("eu"));
  std::set<int32_t> held_by_b2;
  {
    grpc::ClientContext ctx;
    cdnwarm::v1::ListSubscriptionsReply reply;
    ASSERT_TRUE(stub2_->ListSubscriptions(&ctx, {}, &reply).ok());
    for (const auto& p : reply.regions(0).partitions()) held_by_b2.insert(p.partition());
  }
  cdnwarm::v1::SeekRequest seek;
  seek.set_region("eu");
  seek.set_latest(true);
  cdnwarm::v1::SeekReply reply;
  grpc::ClientContext ctx;
  const grpc::Status st = stub_->Seek(&ctx, seek, &reply);
  EXPECT_EQ(st.error_code(), grpc::UNAVAILABLE) << st.error_message();
  EXPECT_THAT(st.error_message(), ::testing::HasSubstr("is partial"));
  EXPECT_THAT(st.error_message(), ::testing::HasSubstr("(b1)"));
  for (int32_t p : held_by_b2) {
    EXPECT_THAT(st.error_message(),
                ::testing::ContainsRegex(absl::StrCat("not moved: .*\\b", p, "\\b.*no replica")));
  }
}

TEST_F(BridgeIntegrationTest, RegionTokensAuthoriseSubscribersPerRegion) {
  config_.bridge.region_tokens = {{"eu", "eu-token-0123456789abcdef"}};
  StartBridge();
  {
    TestSubscriber none(*stub_, "eu", "w", 5);
    none.WaitUntil([](const auto&) { return false; }, absl::Seconds(5));
    EXPECT_EQ(none.status().error_code(), grpc::UNAUTHENTICATED);
  }
  {
    TestSubscriber wrong(*stub_, "eu", "w", 5, absl::Seconds(60), "wrong-token-0123456789");
    wrong.WaitUntil([](const auto&) { return false; }, absl::Seconds(5));
    EXPECT_EQ(wrong.status().error_code(), grpc::UNAUTHENTICATED);
  }
  {
    TestSubscriber other(*stub_, "us", "w", 5, absl::Seconds(60), "eu-token-0123456789abcdef");
    other.WaitUntil([](const auto&) { return false; }, absl::Seconds(5));
    EXPECT_EQ(other.status().error_code(), grpc::PERMISSION_DENIED);
  }
  TestSubscriber good(*stub_, "eu", "w", 5, absl::Seconds(60), "eu-token-0123456789abcdef");
  EXPECT_TRUE(good.WaitSubscribed());
}

// A committed offset that retention has deleted past (OFFSET_OUT_OF_RANGE) resumed at
// the log end with auto.offset.reset=latest, skipping the whole retained backlog. New
// groups are anchored explicitly (--auto_offset_reset), so the client's reset only ever
// applies to such offsets, and it must replay what is still retained.
TEST_F(BridgeIntegrationTest, AnOutOfRangeCommitResumesAtTheOldestRetainedTaskNotTheEnd) {
  config_.bridge.consumer.auto_offset_reset = "latest";  // the production default
  StartBridge();
  ProduceTasks(60);
  const std::map<int32_t, int64_t> end = EndOffsets();
  // The group had finished offset 0 of each partition; then retention removed 0..4.
  common::KafkaProperties p = testing::TestKafka();
  p.Set("group.id", *common::RegionGroup(config_.bridge.group_prefix, "eu", ""));
  absl::StatusOr<common::KafkaConfPtr> conf = p.ToConf();
  ASSERT_TRUE(conf.ok());
  char err[256];
  common::KafkaPtr rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), err, sizeof(err)));
  ASSERT_NE(rk, nullptr) << err;
  conf->release();
  common::KafkaTopicPartitionListPtr commit(rd_kafka_topic_partition_list_new(3));
  common::KafkaTopicPartitionListPtr cut(rd_kafka_topic_partition_list_new(3));
  int64_t retained = 0;
  for (const auto& [partition, e] : end) {
    ASSERT_GE(e, 6) << "every partition holds enough tasks";
    rd_kafka_topic_partition_list_add(commit.get(), config_.kafka.requests_topic.c_str(), partition)
        ->offset = 1;
    rd_kafka_topic_partition_list_add(cut.get(), config_.kafka.requests_topic.c_str(), partition)
        ->offset = 5;
    retained += e - 5;
  }
  ASSERT_EQ(rd_kafka_commit(rk.get(), commit.get(), 0), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_DeleteRecords_t* del = rd_kafka_DeleteRecords_new(cut.get());
  common::KafkaQueuePtr queue(rd_kafka_queue_new(rk.get()));
  rd_kafka_DeleteRecords(rk.get(), &del, 1, nullptr, queue.get());
  rd_kafka_DeleteRecords_destroy(del);
  common::KafkaEventPtr event(rd_kafka_queue_poll(queue.get(), 30000));
  ASSERT_NE(event, nullptr);
  ASSERT_EQ(rd_kafka_event_error(event.get()), RD_KAFKA_RESP_ERR_NO_ERROR)
      << rd_kafka_event_error_string(event.get());
  rd_kafka_consumer_close(rk.get());

  TestSubscriber& s = Subscribe("eu", "w1", 1000);
  EXPECT_TRUE(
      s.WaitUntil([&](const auto& got) { return static_cast<int64_t>(got.size()) >= retained; },
                  absl::Seconds(30)))
      << "delivered " << s.received() << " of the " << retained << " retained tasks";
}

// A record the Kafka client refuses can never be stored, so its offset never finishes and
// the partition's commit waits behind it for good. That used to be a log line and nothing
// else; now the publisher says so (readiness false, on_lost), and the bridge drains so a
// new process redelivers.
TEST_F(BridgeIntegrationTest, ARecordThatCanNeverBeStoredIsNotASilentStall) {
  StartBridge();  // creates the topics
  bool healthy = true;
  std::string lost;
  absl::StatusOr<std::unique_ptr<ResultPublisher>> publisher = ResultPublisher::Create(
      config_.kafka.properties, config_.kafka.results_topic, config_.kafka.dead_letter_topic,
      registry_, [&](bool ok) { healthy = ok; }, [&](const std::string& why) { lost = why; });
  ASSERT_TRUE(publisher.ok()) << publisher.status();
  cdnwarm::v1::WarmResult r;
  r.set_task_id("j/1");
  r.set_error(std::string(2 << 20, 'e'));  // past the client's message.max.bytes
  bool stored = false;
  (*publisher)->Result(r, [&] { stored = true; });
  EXPECT_FALSE(stored);
  EXPECT_FALSE(healthy);
  EXPECT_THAT(lost, ::testing::HasSubstr("refused"));
}

// Flow control paused the partitions assigned at the time only: a partition assigned while
// the region was paused (a rebalance: another replica leaving) was read at full speed, and
// its whole backlog went into memory past --buffer_limit.
TEST_F(BridgeIntegrationTest, PartitionsAssignedWhilePausedStayPaused) {
  constexpr size_t kLimit = 20;
  config_.bridge.consumer.buffer_limit = kLimit;
  config_.bridge.region.buffer_limit = kLimit;
  StartBridge();
  auto info = [](Stub& stub) { return EuInfo(stub); };
  // A second replica holds the whole region first.
  BridgeConfig second = config_;
  second.bridge.replica = "b2";
  metrics::Registry second_registry;
  absl::StatusOr<std::unique_ptr<BridgeApp>> b2 = BridgeApp::Create(second, second_registry);
  ASSERT_TRUE(b2.ok()) << b2.status();
  ASSERT_TRUE((*b2)->runner().Start().ok());
  auto b2_stub = cdnwarm::v1::Bridge::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", (*b2)->runner().grpc_port()), grpc::InsecureChannelCredentials()));
  auto other = std::make_unique<TestSubscriber>(*b2_stub, "eu", "w2", 1);
  ASSERT_TRUE(other->WaitSubscribed());
  ASSERT_TRUE(Await([&] { return info(*b2_stub).partitions_size() == 3; })) << "b2 has all";
  ProduceTasks(900);
  // This replica joins and gets some partitions; its slow subscriber fills it up: paused.
  TestSubscriber& slow = Subscribe("eu", "w1", 1);  // takes one and never acks
  ASSERT_TRUE(slow.WaitSubscribed());
  ASSERT_TRUE(Await([&] {
    const cdnwarm::v1::RegionInfo i = info(*stub_);
    return i.partitions_size() > 0 && i.partitions_size() < 3 && i.buffered() >= kLimit &&
           i.partitions(0).paused();
  })) << "b1 took some partitions, filled up and paused";
  // b2's only subscriber leaves; after idle_grace b2 leaves the group, and this replica
  // gets partitions it never had, while it is paused.
  other.reset();
  ASSERT_TRUE(Await([&] { return info(*stub_).partitions_size() == 3; })) << "b1 has all";
  // The backlog behind the new partitions is hundreds of tasks: were they read, the buffer
  // would pass the limit within a poll or two.
  uint64_t max_buffered = 0;
  const absl::Time until = absl::Now() + absl::Seconds(3);
  while (absl::Now() < until) {
    max_buffered = std::max<uint64_t>(max_buffered, info(*stub_).buffered());
    absl::SleepFor(absl::Milliseconds(100));  // sampling over a bounded time
  }
  std::cout << "max buffered after the rebalance: " << max_buffered << std::endl;
  EXPECT_LE(max_buffered, 2 * kLimit + 500) << "bounded: the limit plus one fetch";
  cdnwarm::v1::RegionInfo now = info(*stub_);
  for (const auto& p : now.partitions()) EXPECT_TRUE(p.paused()) << "partition " << p.partition();
  (*b2)->runner().Shutdown();
  (*b2)->runner().Wait();
}

// A region existed only once its first warmer subscribed, and then started at "latest":
// every task accepted before was never delivered there, and nobody was told. With
// --regions the bridge anchors each region's group at start-up.
TEST_F(BridgeIntegrationTest, AKnownRegionGetsEveryTaskAcceptedBeforeItsFirstWarmer) {
  config_.kafka.regions = {"eu", "us"};
  config_.bridge.consumer.auto_offset_reset = "latest";
  StartBridge();
  ProduceTasks(40);
  // Before any warmer: "us" is listed, with the 40 tasks waiting for it.
  ASSERT_TRUE(Await([&] {
    grpc::ClientContext ctx;
    cdnwarm::v1::ListSubscriptionsRequest req;
    req.set_region("us");
    cdnwarm::v1::ListSubscriptionsReply reply;
    if (!stub_->ListSubscriptions(&ctx, req, &reply).ok() || reply.regions_size() != 1) {
      return false;
    }
    const cdnwarm::v1::RegionInfo& us = reply.regions(0);
    int64_t lag = 0;
    for (const auto& p : us.partitions()) lag += p.lag();
    return !us.joined() && us.partitions_size() == 3 && lag == 40;
  })) << "us is listed with its lag before any warmer subscribed";
  TestSubscriber& late = Subscribe("us", "w-late", 100);
  ASSERT_TRUE(late.WaitSubscribed());
  EXPECT_TRUE(late.WaitUntil([](const auto& got) { return got.size() >= 40; }))
      << late.received() << " of the 40 tasks accepted before the first warmer";
  // A region the deployment does not have is refused, naming it.
  TestSubscriber& typo = Subscribe("us-east", "w-typo", 1);
  typo.WaitUntil([](const auto&) { return false; }, absl::Seconds(5));
  EXPECT_EQ(typo.status().error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(typo.status().error_message(),
            "region: \"us-east\" is not one of this deployment's regions (eu, us)");
}

// librdkafka keeps a partition's pause across a revoke. A partition revoked while flow
// control had the region paused, and assigned back after the region resumed, was never
// read again: its tasks waited for ever (the drills' poison URL sat behind one).
TEST_F(BridgeIntegrationTest, APartitionRevokedWhilePausedIsReadWhenItComesBack) {
  constexpr size_t kLimit = 20;
  config_.bridge.consumer.buffer_limit = kLimit;
  config_.bridge.region.buffer_limit = kLimit;
  StartBridge();
  ProduceTasks(300);
  // This replica holds the whole region; its subscriber takes one and never acks: paused.
  TestSubscriber& slow = Subscribe("eu", "w1", 1);
  ASSERT_TRUE(slow.WaitSubscribed());
  ASSERT_TRUE(Await([&] {
    const cdnwarm::v1::RegionInfo i = EuInfo(*stub_);
    return i.partitions_size() == 3 && i.buffered() >= kLimit && i.partitions(0).paused();
  })) << "b1 holds every partition, filled up and paused";
  // A second replica joins: this one gives partitions up while they are paused.
  StartSecondReplica();
  TestSubscriber& other = Subscribe("eu", "w2", 1, absl::Seconds(60), stub2_.get());
  ASSERT_TRUE(other.WaitSubscribed());
  ASSERT_TRUE(BothReplicasHoldPartitions("eu"));
  // A fast subscriber drains this replica (the slow one leaves, handing its task back): the
  // region resumes what it holds.
  TestSubscriber& fast = Subscribe("eu", "w3", 1000);
  ASSERT_TRUE(fast.WaitSubscribed());
  slow.Cancel();
  std::set<std::string> acked;
  auto ack_all = [&] {
    fast.WaitUntil([](const auto& v) { return !v.empty(); }, absl::Milliseconds(50));
    std::vector<cdnwarm::v1::Delivery> got = fast.Take();
    if (!got.empty()) fast.Ack(got, cdnwarm::v1::ACK_OUTCOME_WARMED);
    for (const auto& d : got) acked.insert(d.task().task_id());
  };
  ASSERT_TRUE(Await([&] {
    ack_all();
    const cdnwarm::v1::RegionInfo i = EuInfo(*stub_);
    return i.partitions_size() > 0 && i.partitions_size() < 3 && !i.partitions(0).paused();
  })) << "b1 resumed the partitions it kept";
  // The second replica's subscriber leaves; after idle_grace its partitions come back.
  other.Cancel();
  ASSERT_TRUE(Await([&] {
    ack_all();
    return EuInfo(*stub_).partitions_size() == 3;
  })) << "b1 holds every partition again";
  ProduceTasks(300, 300);
  const bool all = Await([&] {
    ack_all();
    return acked.size() == 600u;
  });
  EXPECT_TRUE(all) << acked.size()
                   << " of 600 tasks delivered; partitions: " << EuInfo(*stub_).ShortDebugString();
}

// A record on the requests topic that is not a WarmTask went to the dead-letter topic as an
// empty WarmTask: its bytes were lost. It keeps them now, with where it was read.
TEST_F(BridgeIntegrationTest, AnUndecodableRecordIsDeadLetteredWithItsOwnBytesAndSource) {
  StartBridge();
  TestSubscriber& s = Subscribe("eu", "w1", 10);
  ASSERT_TRUE(s.WaitSubscribed());
  const std::string garbage("\xff\xfenot a task\x00\x01", 14);
  ASSERT_TRUE(testing::ProduceRecords(config_.kafka.requests_topic, {{"odd-key", garbage}}).ok());
  absl::StatusOr<std::vector<testing::Record>> in =
      testing::ReadTopic(config_.kafka.requests_topic);
  ASSERT_TRUE(in.ok());
  ASSERT_EQ(in->size(), 1u);
  std::vector<testing::Record> dead;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (dead.empty() && absl::Now() < deadline) {
    absl::StatusOr<std::vector<testing::Record>> d =
        testing::ReadTopic(config_.kafka.dead_letter_topic);
    if (d.ok()) dead = *d;
    if (dead.empty()) absl::SleepFor(absl::Milliseconds(200));  // polling Kafka
  }
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].key, "odd-key");
  EXPECT_EQ(dead[0].value, garbage) << "the record's own bytes";
  std::map<std::string, std::string> h(dead[0].headers.begin(), dead[0].headers.end());
  EXPECT_EQ(h["cdnwarm-source-topic"], config_.kafka.requests_topic);
  EXPECT_EQ(h["cdnwarm-source-partition"], absl::StrCat((*in)[0].partition));
  EXPECT_EQ(h["cdnwarm-source-offset"], absl::StrCat((*in)[0].offset));
  EXPECT_THAT(h["cdnwarm-error"], ::testing::HasSubstr("not a cdnwarm.v1.WarmTask"));
}

// SIGTERM's order: the final commits ran before the results were flushed, and acks that
// arrived during the drain were answered STALE, so all the work in flight was done again by
// the next replica. Acks during the drain are taken, their results stored and committed.
TEST_F(BridgeIntegrationTest, AcksDuringTheDrainAreTakenAndCommitted) {
  config_.common.server.drain_timeout = absl::Seconds(10);
  StartBridge();
  TestSubscriber& s = Subscribe("eu", "w1", 100);
  ProduceTasks(30);
  ASSERT_TRUE(s.WaitUntil([](const auto& v) { return v.size() == 30; }));
  const std::vector<cdnwarm::v1::Delivery> held = s.Take();
  app_->runner().Shutdown();  // SIGTERM: the drain begins
  ASSERT_TRUE(s.WaitUntil([](const auto&) { return false; }, absl::Seconds(5)) == false);
  EXPECT_EQ(s.status().error_code(), grpc::StatusCode::UNAVAILABLE) << "the stream ended";
  // The warmer finishes what it held and acks it, after its stream ended.
  EXPECT_THAT(s.Ack(held, cdnwarm::v1::ACK_OUTCOME_WARMED),
              ::testing::Each(cdnwarm::v1::ACK_STATUS_OK));
  app_->runner().Wait();
  app_.reset();
  EXPECT_TRUE(CommittedReaches("eu", EndOffsets())) << "committed before the groups were left";
}

// A region's token admits its subscribers, not operators: ListSubscriptions and Seek need
// the operator token (a warmer's token could replay or skip a region's backlog), and with
// region tokens but no operator token they are refused, not left open.
TEST_F(BridgeIntegrationTest, ListSubscriptionsAndSeekNeedTheOperatorToken) {
  config_.bridge.region_tokens = {{"eu", "eu-token-0123456789abcdef"}};
  config_.bridge.operator_auth = *common::BearerAuth::FromToken("operator-token-0123456789");
  StartBridge();
  auto list = [&](const std::string& token) {
    grpc::ClientContext ctx;
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    cdnwarm::v1::ListSubscriptionsRequest req;
    cdnwarm::v1::ListSubscriptionsReply reply;
    return stub_->ListSubscriptions(&ctx, req, &reply).error_code();
  };
  auto seek = [&](const std::string& token) {
    grpc::ClientContext ctx;
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    cdnwarm::v1::SeekRequest req;
    req.set_region("eu");
    req.set_latest(true);
    cdnwarm::v1::SeekReply reply;
    return stub_->Seek(&ctx, req, &reply).error_code();
  };
  EXPECT_EQ(list(""), grpc::UNAUTHENTICATED);
  EXPECT_EQ(list("eu-token-0123456789abcdef"), grpc::UNAUTHENTICATED);
  EXPECT_EQ(list("operator-token-0123456789"), grpc::OK);
  EXPECT_EQ(seek("eu-token-0123456789abcdef"), grpc::UNAUTHENTICATED);
  // Past authorisation: no subscriber of eu on this replica yet.
  EXPECT_EQ(seek("operator-token-0123456789"), grpc::FAILED_PRECONDITION);
}

TEST_F(BridgeIntegrationTest, WithRegionTokensButNoOperatorTokenAdminCallsAreRefused) {
  config_.bridge.region_tokens = {{"eu", "eu-token-0123456789abcdef"}};
  StartBridge();
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer eu-token-0123456789abcdef");
  cdnwarm::v1::ListSubscriptionsRequest req;
  cdnwarm::v1::ListSubscriptionsReply reply;
  const grpc::Status s = stub_->ListSubscriptions(&ctx, req, &reply);
  EXPECT_EQ(s.error_code(), grpc::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("--operator_token_file"));
}

// SIGTERM with two busy regions: the drain used to swap the regions out before their
// streams were done, so a stream's OnDone no longer removed it from its region, and the
// stream was deleted while the other region's consumer, still running until its turn to
// leave the group, kept dispatching to it: a use after free (ASan reports it here).
TEST_F(BridgeIntegrationTest, DrainWithTwoBusyRegionsNeverSendsToAFinishedStream) {
  StartBridge();
  TestSubscriber& eu = Subscribe("eu", "w-eu", 10000);
  TestSubscriber& us = Subscribe("us", "w-us", 10000);
  ASSERT_TRUE(eu.WaitSubscribed());
  ASSERT_TRUE(us.WaitSubscribed());
  std::atomic<bool> stop{false};
  std::thread feed([&] {
    for (int i = 0; !stop; i += 100) ProduceTasks(100, i);
  });
  auto some = [](const std::vector<cdnwarm::v1::Delivery>& got) { return got.size() >= 300; };
  const bool flowing = eu.WaitUntil(some) && us.WaitUntil(some);
  app_->runner().Shutdown();  // SIGTERM's path: the drain hooks, then the server
  app_->runner().Wait();
  stop = true;
  feed.join();
  ASSERT_TRUE(flowing) << "both regions were receiving when the drain began";
  EXPECT_EQ(eu.status().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(us.status().error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace cdnwarm::bridge
