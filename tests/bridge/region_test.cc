// The region's delivery semantics without Kafka or gRPC: credit, out-of-order acks and the
// commit point, redelivery when a stream ends or a deadline passes, retries to the
// dead-letter topic, and answers to bad acks.

#include "streamer-bridge/region.h"

#include <functional>
#include <vector>

#include "absl/time/clock.h"
#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cdnwarm::bridge {
namespace {

struct FakeSink : DeliverySink {
  void Send(cdnwarm::v1::Delivery d) override { got.push_back(std::move(d)); }
  std::vector<cdnwarm::v1::Delivery> got;
};

// Results are "stored" when the test says so, as Kafka acknowledges later.
struct FakeResults : ResultSink {
  void Result(const cdnwarm::v1::WarmResult& r, std::function<void()> stored) override {
    results.push_back(r);
    pending.push_back(std::move(stored));
  }
  void DeadLetter(const cdnwarm::v1::WarmTask& t, const cdnwarm::v1::WarmResult&,
                  std::function<void()> stored) override {
    dead.push_back(t);
    pending.push_back(std::move(stored));
  }
  void StoreAll() {
    auto p = std::move(pending);
    pending.clear();
    for (auto& f : p) f();
  }
  std::vector<cdnwarm::v1::WarmResult> results;
  std::vector<cdnwarm::v1::WarmTask> dead;
  std::vector<std::function<void()>> pending;
};

cdnwarm::v1::WarmTask Task(int i) {
  cdnwarm::v1::WarmTask t;
  t.set_task_id(absl::StrCat("j/", i));
  t.set_job_id("j");
  t.set_url(absl::StrCat("https://example.com/", i));
  return t;
}

cdnwarm::v1::AckRequest Ack(const std::string& sub, const std::string& ack_id,
                            cdnwarm::v1::AckOutcome outcome) {
  cdnwarm::v1::AckRequest r;
  r.set_subscriber_id(sub);
  auto* e = r.add_entries();
  e->set_ack_id(ack_id);
  e->set_outcome(outcome);
  return r;
}

class RegionTest : public ::testing::Test {
 protected:
  RegionOptions Options() {
    RegionOptions o;
    o.region = "eu";
    o.replica = "r1";
    o.max_attempts = 3;
    o.min_backoff = absl::ZeroDuration();
    return o;
  }
  FakeResults results_;
};

TEST_F(RegionTest, NeverMoreOutstandingThanCreditAndMostFreeCreditFirst) {
  Region region(Options(), results_);
  FakeSink a, b;
  ASSERT_TRUE(region.AddSubscriber("a", 2, absl::Seconds(30), "", &a).ok());
  ASSERT_TRUE(region.AddSubscriber("b", 5, absl::Seconds(30), "", &b).ok());
  region.Assigned(0);
  for (int i = 0; i < 10; ++i) region.Enqueue(0, i, Task(i));
  EXPECT_EQ(a.got.size(), 2u);
  EXPECT_EQ(b.got.size(), 5u);
  EXPECT_EQ(region.buffered(), 3u);
  EXPECT_EQ(region.AddSubscriber("a", 1, absl::Seconds(30), "", &a).code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(RegionTest, CommitPointNeverPassesAnUnfinishedOffset) {
  Region region(Options(), results_);
  FakeSink a;
  ASSERT_TRUE(region.AddSubscriber("a", 10, absl::Seconds(30), "", &a).ok());
  region.Assigned(0);
  for (int i = 0; i < 5; ++i) region.Enqueue(0, 100 + i, Task(i));
  ASSERT_EQ(a.got.size(), 5u);
  // Acks out of order: 4, 2, 0.
  for (int i : {4, 2, 0}) {
    EXPECT_THAT(region.Ack(Ack("a", a.got[i].ack_id(), cdnwarm::v1::ACK_OUTCOME_WARMED)),
                ::testing::ElementsAre(cdnwarm::v1::ACK_STATUS_OK));
  }
  EXPECT_EQ(region.CommitPoints()[0], 100) << "nothing is finished before Kafka stored results";
  results_.StoreAll();
  EXPECT_EQ(region.CommitPoints()[0], 101) << "101 is still out";
  region.Ack(Ack("a", a.got[1].ack_id(), cdnwarm::v1::ACK_OUTCOME_FAILED));
  results_.StoreAll();
  EXPECT_EQ(region.CommitPoints()[0], 103);
  region.Ack(Ack("a", a.got[3].ack_id(), cdnwarm::v1::ACK_OUTCOME_WARMED));
  results_.StoreAll();
  EXPECT_EQ(region.CommitPoints()[0], 105);
  EXPECT_EQ(results_.results.size(), 5u);
}

TEST_F(RegionTest, EndedStreamHandsItsDeliveriesToTheOthersAtOnce) {
  Region region(Options(), results_);
  FakeSink a, b;
  ASSERT_TRUE(region.AddSubscriber("a", 3, absl::Seconds(30), "", &a).ok());
  region.Assigned(0);
  for (int i = 0; i < 3; ++i) region.Enqueue(0, i, Task(i));
  ASSERT_TRUE(region.AddSubscriber("b", 3, absl::Seconds(30), "", &b).ok());
  ASSERT_EQ(a.got.size(), 3u);
  EXPECT_TRUE(b.got.empty());
  region.RemoveSubscriber("a", &a);
  ASSERT_EQ(b.got.size(), 3u);
  for (const auto& d : b.got) EXPECT_EQ(d.delivery_attempt(), 2u);
  // The old stream's acks are stale now.
  EXPECT_THAT(region.Ack(Ack("a", a.got[0].ack_id(), cdnwarm::v1::ACK_OUTCOME_WARMED)),
              ::testing::ElementsAre(cdnwarm::v1::ACK_STATUS_STALE));
}

TEST_F(RegionTest, NacksAndExpiredDeadlinesRedeliverThenDeadLetter) {
  Region region(Options(), results_);
  FakeSink a;
  ASSERT_TRUE(region.AddSubscriber("a", 1, absl::Milliseconds(1), "", &a).ok());
  region.Assigned(0);
  region.Enqueue(0, 7, Task(7));
  ASSERT_EQ(a.got.size(), 1u);
  region.Ack(Ack("a", a.got[0].ack_id(), cdnwarm::v1::ACK_OUTCOME_RETRY));
  region.Tick();
  ASSERT_EQ(a.got.size(), 2u);
  EXPECT_EQ(a.got[1].delivery_attempt(), 2u);
  absl::SleepFor(absl::Milliseconds(5));  // let the 1 ms deadline pass (time is the input)
  region.Tick();
  ASSERT_EQ(a.got.size(), 3u);
  EXPECT_EQ(a.got[2].delivery_attempt(), 3u);
  region.Ack(Ack("a", a.got[2].ack_id(), cdnwarm::v1::ACK_OUTCOME_RETRY));
  ASSERT_EQ(results_.dead.size(), 1u) << "past max_attempts";
  EXPECT_EQ(results_.results.back().outcome(), cdnwarm::v1::OUTCOME_FAILED);
  EXPECT_THAT(results_.results.back().error(), ::testing::HasSubstr("gave up after 3 attempts"));
  results_.StoreAll();
  EXPECT_EQ(region.CommitPoints()[0], 8) << "the partition moves on";
  EXPECT_EQ(region.Info().redeliveries(), 2u);
  EXPECT_EQ(region.Info().dead_letters(), 1u);
}

TEST_F(RegionTest, UntargetedAndExpiredTasksFinishWithoutDelivery) {
  Region region(Options(), results_);
  FakeSink a;
  ASSERT_TRUE(region.AddSubscriber("a", 5, absl::Seconds(30), "", &a).ok());
  region.Assigned(0);
  cdnwarm::v1::WarmTask other = Task(1);
  other.add_target_regions("us");
  region.Enqueue(0, 0, other);
  cdnwarm::v1::WarmTask old = Task(2);
  *old.mutable_not_after() = common::ToProtoTimestamp(absl::Now() - absl::Seconds(1));
  region.Enqueue(0, 1, old);
  EXPECT_TRUE(a.got.empty());
  ASSERT_EQ(results_.results.size(), 2u);
  EXPECT_EQ(results_.results[0].outcome(), cdnwarm::v1::OUTCOME_SKIPPED);
  EXPECT_EQ(results_.results[1].outcome(), cdnwarm::v1::OUTCOME_EXPIRED);
}

TEST_F(RegionTest, CoalescesAUrlWarmedWithinTheWindow) {
  RegionOptions o = Options();
  o.coalesce_window = absl::Minutes(5);
  Region region(o, results_);
  FakeSink a;
  ASSERT_TRUE(region.AddSubscriber("a", 5, absl::Seconds(30), "", &a).ok());
  region.Assigned(0);
  region.Enqueue(0, 0, Task(1));
  region.Ack(Ack("a", a.got[0].ack_id(), cdnwarm::v1::ACK_OUTCOME_WARMED));
  region.Enqueue(0, 1, Task(1));
  EXPECT_EQ(a.got.size(), 1u);
  EXPECT_EQ(results_.results.back().outcome(), cdnwarm::v1::OUTCOME_COALESCED);
}

TEST_F(RegionTest, BadAcksGetClearAnswersAndChangeNothing) {
  Region region(Options(), results_);
  FakeSink a, b;
  ASSERT_TRUE(region.AddSubscriber("a", 5, absl::Seconds(30), "", &a).ok());
  ASSERT_TRUE(region.AddSubscriber("b", 5, absl::Seconds(30), "", &b).ok());
  region.Assigned(0);
  region.Enqueue(0, 0, Task(0));
  const std::string id = a.got.empty() ? b.got[0].ack_id() : a.got[0].ack_id();
  const std::string owner = a.got.empty() ? "b" : "a";
  const std::string other = owner == "a" ? "b" : "a";
  EXPECT_THAT(region.Ack(Ack(owner, "garbage", cdnwarm::v1::ACK_OUTCOME_WARMED)),
              ::testing::ElementsAre(cdnwarm::v1::ACK_STATUS_INVALID));
  EXPECT_THAT(region.Ack(Ack(owner, "r2.eu.1", cdnwarm::v1::ACK_OUTCOME_WARMED)),
              ::testing::ElementsAre(cdnwarm::v1::ACK_STATUS_INVALID));
  EXPECT_THAT(region.Ack(Ack(owner, "r1.eu.999", cdnwarm::v1::ACK_OUTCOME_WARMED)),
              ::testing::ElementsAre(cdnwarm::v1::ACK_STATUS_STALE));
  EXPECT_THAT(region.Ack(Ack(other, id, cdnwarm::v1::ACK_OUTCOME_WARMED)),
              ::testing::ElementsAre(cdnwarm::v1::ACK_STATUS_WRONG_SUBSCRIBER));
  EXPECT_THAT(region.Ack(Ack(owner, id, cdnwarm::v1::ACK_OUTCOME_UNSPECIFIED)),
              ::testing::ElementsAre(cdnwarm::v1::ACK_STATUS_INVALID));
  EXPECT_EQ(region.Info().outstanding(), 1u) << "no state damage";
  EXPECT_THAT(region.Ack(Ack(owner, id, cdnwarm::v1::ACK_OUTCOME_WARMED)),
              ::testing::ElementsAre(cdnwarm::v1::ACK_STATUS_OK));
  EXPECT_THAT(region.Ack(Ack(owner, id, cdnwarm::v1::ACK_OUTCOME_WARMED)),
              ::testing::ElementsAre(cdnwarm::v1::ACK_STATUS_STALE));
}

TEST_F(RegionTest, RevokedPartitionsAreForgotten) {
  Region region(Options(), results_);
  FakeSink a;
  ASSERT_TRUE(region.AddSubscriber("a", 1, absl::Seconds(30), "", &a).ok());
  region.Assigned(0);
  region.Assigned(1);
  region.Enqueue(0, 0, Task(0));
  region.Enqueue(1, 0, Task(1));
  ASSERT_EQ(a.got.size(), 1u);
  region.Revoked({a.got[0].task().task_id() == "j/0" ? 0 : 1});
  EXPECT_THAT(region.Ack(Ack("a", a.got[0].ack_id(), cdnwarm::v1::ACK_OUTCOME_WARMED)),
              ::testing::ElementsAre(cdnwarm::v1::ACK_STATUS_STALE));
  EXPECT_EQ(a.got.size(), 2u) << "credit freed for the remaining partition";
  EXPECT_EQ(region.CommitPoints().size(), 1u);
}

}  // namespace
}  // namespace cdnwarm::bridge
