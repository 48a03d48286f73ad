// The region's delivery semantics without Kafka or gRPC: credit, out-of-order acks and the
// commit point, redelivery when a stream ends or a deadline passes, retries to the
// dead-letter topic, and answers to bad acks.

#include "streamer-bridge/region.h"

#include <functional>
#include <set>
#include <vector>

#include "absl/time/clock.h"
#include "common/core/proto_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/fake_clock.h"

namespace cdnwarm::bridge {
namespace {

struct FakeSink : DeliverySink {
  bool Send(cdnwarm::v1::Delivery d) override {
    if (refuse) return false;
    got.push_back(std::move(d));
    return true;
  }
  void Drained() override { ++drained; }
  std::vector<cdnwarm::v1::Delivery> got;
  int drained = 0;
  bool refuse = false;  // a stream that is ending
};

// Results are "stored" when the test says so, as Kafka acknowledges later.
struct FakeResults : ResultSink {
  void Result(const cdnwarm::v1::WarmResult& r, std::function<void()> stored) override {
    results.push_back(r);
    pending.push_back(std::move(stored));
  }
  void DeadLetter(const cdnwarm::v1::WarmTask& t, const cdnwarm::v1::WarmResult&,
                  const DeadLetterSource&, std::function<void()> stored) override {
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
    o.clock = &clock_;
    return o;
  }
  cdnwarm::testing::FakeClock clock_;
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
  clock_.Advance(absl::Milliseconds(5));  // the 1 ms deadline passes
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
  cdnwarm::v1::WarmTask first = Task(1);
  *first.mutable_enqueued_at() = common::ToProtoTimestamp(absl::Now() - absl::Seconds(2));
  cdnwarm::v1::WarmTask again = first;  // asked for before the warm below happened
  region.Enqueue(0, 0, first);
  region.Ack(Ack("a", a.got[0].ack_id(), cdnwarm::v1::ACK_OUTCOME_WARMED));
  region.Enqueue(0, 1, again);
  EXPECT_EQ(a.got.size(), 1u);
  EXPECT_EQ(results_.results.back().outcome(), cdnwarm::v1::OUTCOME_COALESCED);
}

// The key was the URL and the variants' names only, so "accept-encoding: br" was never
// warmed after a gzip one of the same name; and any earlier warm counted, so a URL asked
// for again after a purge was skipped.
TEST_F(RegionTest, CoalescingNeverSkipsAnotherVariantOrAWarmAskedForAfterIt) {
  RegionOptions o = Options();
  o.coalesce_window = absl::Minutes(5);
  Region region(o, results_);
  FakeSink a;
  ASSERT_TRUE(region.AddSubscriber("a", 10, absl::Seconds(30), "", &a).ok());
  region.Assigned(0);
  auto variant = [](const std::string& encoding, absl::Time enqueued) {
    cdnwarm::v1::WarmTask t = Task(1);
    auto* v = t.add_variants();
    v->set_name("compressed");
    auto* h = v->add_headers();
    h->set_name("Accept-Encoding");
    h->set_value(encoding);
    *t.mutable_enqueued_at() = common::ToProtoTimestamp(enqueued);
    return t;
  };
  const absl::Time before = absl::Now() - absl::Seconds(1);
  region.Enqueue(0, 0, variant("gzip", before));
  ASSERT_EQ(a.got.size(), 1u);
  region.Ack(Ack("a", a.got[0].ack_id(), cdnwarm::v1::ACK_OUTCOME_WARMED));
  region.Enqueue(0, 1, variant("br", before));
  ASSERT_EQ(a.got.size(), 2u) << "another header value is another cached object";
  region.Enqueue(0, 2, variant("gzip", absl::Now() + absl::Seconds(1)));
  ASSERT_EQ(a.got.size(), 3u) << "asked for after the warm (a purge since): fetched";
  region.Enqueue(0, 3, variant("gzip", before));
  EXPECT_EQ(a.got.size(), 3u) << "asked for before the warm: coalesced";
  EXPECT_EQ(results_.results.back().outcome(), cdnwarm::v1::OUTCOME_COALESCED);
}

TEST_F(RegionTest, CoalescingForgetsWarmsOlderThanItsWindow) {
  RegionOptions o = Options();
  o.coalesce_window = absl::Milliseconds(1);
  Region region(o, results_);
  FakeSink a;
  ASSERT_TRUE(region.AddSubscriber("a", 100, absl::Seconds(30), "", &a).ok());
  region.Assigned(0);
  for (int i = 0; i < 50; ++i) region.Enqueue(0, i, Task(i));
  for (const auto& d : a.got) region.Ack(Ack("a", d.ack_id(), cdnwarm::v1::ACK_OUTCOME_WARMED));
  EXPECT_EQ(region.coalescing_size(), 50u);
  clock_.Advance(absl::Milliseconds(5));  // the window passes
  region.Tick();
  EXPECT_EQ(region.coalescing_size(), 0u) << "bounded by the window, not by history";
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
  const std::string never_issued = id.substr(0, id.rfind('.') + 1) + "999";
  EXPECT_THAT(region.Ack(Ack(owner, never_issued, cdnwarm::v1::ACK_OUTCOME_WARMED)),
              ::testing::ElementsAre(cdnwarm::v1::ACK_STATUS_STALE));
  EXPECT_THAT(region.Ack(Ack(owner, "r1.eu.999", cdnwarm::v1::ACK_OUTCOME_WARMED)),
              ::testing::ElementsAre(cdnwarm::v1::ACK_STATUS_INVALID))
      << "the shape of ack ids before incarnations";
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

// A seek moves a partition's position; it must not lose what warmers are fetching right
// now. Their acks are taken and their results stored (they no longer hold the new commit
// point); only what was buffered, not yet delivered, is dropped and read again from the
// new position. The seek used to forget the deliveries too: their acks were STALE and the
// warms done were never recorded.
TEST_F(RegionTest, ASeekKeepsTheDeliveriesInFlight) {
  Region region(Options(), results_);
  FakeSink a;
  ASSERT_TRUE(region.AddSubscriber("a", 2, absl::Seconds(30), "", &a).ok());
  region.Assigned(0);
  for (int i = 0; i < 4; ++i) region.Enqueue(0, 10 + i, Task(i));
  ASSERT_EQ(a.got.size(), 2u);
  ASSERT_EQ(region.buffered(), 2u);
  region.Repositioned({0});  // e.g. Seek(latest): the new position is 14
  EXPECT_EQ(region.buffered(), 0u) << "the undelivered tasks are read again from 14 (or skipped)";
  for (const auto& d : a.got) {
    EXPECT_THAT(region.Ack(Ack("a", d.ack_id(), cdnwarm::v1::ACK_OUTCOME_WARMED)),
                ::testing::ElementsAre(cdnwarm::v1::ACK_STATUS_OK));
  }
  ASSERT_EQ(results_.results.size(), 2u) << "the warms done are recorded";
  results_.StoreAll();
  EXPECT_TRUE(region.CommitPoints().empty()) << "old deliveries never hold the new position";
  region.Enqueue(0, 14, Task(4));
  EXPECT_EQ(region.CommitPoints()[0], 14);
}

// A result is a Kafka record: a subscriber's 4 MB report (gRPC lets it through) was
// produced as it came, the broker refused it, it was never stored, and the partition's
// commit waited behind it for good. What the bridge produces is bounded.
TEST_F(RegionTest, ResultsAreBoundedWhateverTheSubscriberReports) {
  Region region(Options(), results_);
  FakeSink a;
  ASSERT_TRUE(region.AddSubscriber("a", 5, absl::Seconds(30), "", &a).ok());
  region.Assigned(0);
  region.Enqueue(0, 0, Task(0));
  ASSERT_EQ(a.got.size(), 1u);
  cdnwarm::v1::AckRequest huge = Ack("a", a.got[0].ack_id(), cdnwarm::v1::ACK_OUTCOME_FAILED);
  cdnwarm::v1::WarmResult* r = huge.mutable_entries(0)->mutable_result();
  r->set_error(std::string(4 << 20, 'e'));
  for (int i = 0; i < 8; ++i) {
    auto* v = r->add_variants();
    v->set_pop(std::string(100000, 'p'));
    for (int j = 0; j < 1000; ++j) v->add_layers()->set_name("layer");
  }
  EXPECT_THAT(region.Ack(huge), ::testing::ElementsAre(cdnwarm::v1::ACK_STATUS_OK));
  ASSERT_EQ(results_.results.size(), 1u);
  EXPECT_LE(results_.results[0].ByteSizeLong(), 40u * 1024) << "far below a record's limit";
  EXPECT_THAT(results_.results[0].error(), ::testing::HasSubstr("(truncated)"));
  EXPECT_EQ(results_.results[0].task_id(), "j/0");
}

// Ack ids restarted at 1 in every Region, so after a bridge restart with the same replica
// id (a container restart in its pod), or a region the janitor dropped and re-created, a
// late ack of an earlier delivery finished a different task that nobody fetched.
TEST_F(RegionTest, AckIdsOfAnEarlierIncarnationNeverFinishThisOnesTasks) {
  std::string old_id;
  {
    FakeResults earlier_results;
    Region before(Options(), earlier_results);
    FakeSink a;
    ASSERT_TRUE(before.AddSubscriber("a", 5, absl::Seconds(30), "", &a).ok());
    before.Assigned(0);
    before.Enqueue(0, 0, Task(0));
    ASSERT_EQ(a.got.size(), 1u);
    old_id = a.got[0].ack_id();
  }
  Region after(Options(), results_);
  FakeSink a;
  ASSERT_TRUE(after.AddSubscriber("a", 5, absl::Seconds(30), "", &a).ok());
  after.Assigned(0);
  after.Enqueue(0, 0, Task(1));  // another task, delivered in the same position
  ASSERT_EQ(a.got.size(), 1u);
  EXPECT_NE(a.got[0].ack_id(), old_id);
  EXPECT_THAT(after.Ack(Ack("a", old_id, cdnwarm::v1::ACK_OUTCOME_WARMED)),
              ::testing::ElementsAre(cdnwarm::v1::ACK_STATUS_STALE));
  EXPECT_EQ(after.Info().outstanding(), 1u) << "the new task is still out";
  EXPECT_TRUE(results_.results.empty()) << "nothing finished";
}

// A result names its task: an ack whose result is about another task is a mix-up, and
// finishing the delivery with it would record a warm that did not happen.
TEST_F(RegionTest, AnAckWhoseResultNamesAnotherTaskIsRefused) {
  Region region(Options(), results_);
  FakeSink a;
  ASSERT_TRUE(region.AddSubscriber("a", 5, absl::Seconds(30), "", &a).ok());
  region.Assigned(0);
  region.Enqueue(0, 0, Task(0));
  region.Enqueue(0, 1, Task(1));
  ASSERT_EQ(a.got.size(), 2u);
  cdnwarm::v1::AckRequest mixed = Ack("a", a.got[0].ack_id(), cdnwarm::v1::ACK_OUTCOME_WARMED);
  mixed.mutable_entries(0)->mutable_result()->set_task_id(a.got[1].task().task_id());
  EXPECT_THAT(region.Ack(mixed), ::testing::ElementsAre(cdnwarm::v1::ACK_STATUS_TASK_MISMATCH));
  EXPECT_EQ(region.Info().outstanding(), 2u) << "nothing changed";
  EXPECT_TRUE(results_.results.empty());
  cdnwarm::v1::AckRequest right = Ack("a", a.got[0].ack_id(), cdnwarm::v1::ACK_OUTCOME_WARMED);
  right.mutable_entries(0)->mutable_result()->set_task_id(a.got[0].task().task_id());
  EXPECT_THAT(region.Ack(right), ::testing::ElementsAre(cdnwarm::v1::ACK_STATUS_OK));
  EXPECT_THAT(region.Ack(Ack("a", a.got[1].ack_id(), cdnwarm::v1::ACK_OUTCOME_WARMED)),
              ::testing::ElementsAre(cdnwarm::v1::ACK_STATUS_OK))
      << "a result without a task id is the bridge's to fill in";
}

// Every delivery is an attempt, however it ends: a task whose warm kills the warmer (its
// stream ends each time) was handed back for ever without counting; it must reach the
// dead-letter topic after max_attempts, and the partition move on.
TEST_F(RegionTest, ATaskWhoseStreamsKeepEndingIsDeadLetteredAfterMaxAttempts) {
  Region region(Options(), results_);  // max_attempts 3
  region.Assigned(0);
  region.Enqueue(0, 5, Task(5));
  for (uint32_t attempt = 1; attempt <= 3; ++attempt) {
    FakeSink s;
    const std::string id = absl::StrCat("w", attempt);
    ASSERT_TRUE(region.AddSubscriber(id, 1, absl::Seconds(30), "", &s).ok());
    ASSERT_EQ(s.got.size(), 1u) << "attempt " << attempt;
    EXPECT_EQ(s.got[0].delivery_attempt(), attempt);
    region.RemoveSubscriber(id, &s);  // the warmer died with the task in hand
  }
  ASSERT_EQ(results_.dead.size(), 1u);
  EXPECT_EQ(results_.results.back().outcome(), cdnwarm::v1::OUTCOME_FAILED);
  EXPECT_THAT(results_.results.back().error(),
              ::testing::HasSubstr("gave up after 3 attempts; last error: the subscriber's "
                                   "stream ended during the delivery"));
  FakeSink last;
  ASSERT_TRUE(region.AddSubscriber("w4", 1, absl::Seconds(30), "", &last).ok());
  EXPECT_TRUE(last.got.empty());
  results_.StoreAll();
  EXPECT_EQ(region.CommitPoints()[0], 6);
}

// A draining subscriber says so: it gets nothing more, and what it hands back is released,
// not failed: no attempt counted, no backoff. Dispatch used to favour the draining warmer
// (it has the most free credit), and each of its RETRY hand-backs was an attempt, so a
// rolling update dead-lettered healthy tasks that were never fetched.
TEST_F(RegionTest, ADrainingSubscriberGetsNothingMoreAndItsReleasesAreNotAttempts) {
  Region region(Options(), results_);  // max_attempts 3
  FakeSink draining, steady;
  ASSERT_TRUE(region.AddSubscriber("draining", 10, absl::Seconds(30), "", &draining).ok());
  ASSERT_TRUE(region.AddSubscriber("steady", 1, absl::Seconds(30), "", &steady).ok());
  region.Assigned(0);
  for (int i = 0; i < 3; ++i) region.Enqueue(0, i, Task(i));
  ASSERT_EQ(draining.got.size(), 3u) << "the most free credit";
  ASSERT_TRUE(region.StopDelivering("draining").ok());
  EXPECT_EQ(draining.drained, 0) << "it still holds three";
  EXPECT_EQ(region.StopDelivering("nobody").code(), absl::StatusCode::kNotFound);
  for (int i = 3; i < 6; ++i) region.Enqueue(0, i, Task(i));
  EXPECT_EQ(draining.got.size(), 3u) << "nothing more once draining";
  ASSERT_EQ(steady.got.size(), 1u);
  for (int round = 0; round < 5; ++round) {  // more rounds than max_attempts
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_THAT(
          region.Ack(Ack("draining", draining.got[i].ack_id(), cdnwarm::v1::ACK_OUTCOME_RELEASE)),
          ::testing::ElementsAre(round == 0 ? cdnwarm::v1::ACK_STATUS_OK
                                            : cdnwarm::v1::ACK_STATUS_STALE));
    }
    EXPECT_EQ(draining.drained, 1) << "told once it held nothing, so its stream can end";
    // The steady subscriber takes the released tasks first, each still on attempt 1.
    const cdnwarm::v1::Delivery d = steady.got.back();
    EXPECT_EQ(d.delivery_attempt(), 1u) << d.task().task_id();
    FakeSink again;
    ASSERT_TRUE(region.AddSubscriber("again", 1, absl::Seconds(30), "", &again).ok());
    ASSERT_EQ(again.got.size(), 1u);
    ASSERT_TRUE(region.StopDelivering("again").ok());
    EXPECT_THAT(region.Ack(Ack("again", again.got[0].ack_id(), cdnwarm::v1::ACK_OUTCOME_RELEASE)),
                ::testing::ElementsAre(cdnwarm::v1::ACK_STATUS_OK));
    region.RemoveSubscriber("again", &again);
  }
  EXPECT_TRUE(results_.dead.empty()) << "releases never dead-letter";
  EXPECT_EQ(region.Info().dead_letters(), 0u);
  // Everything is still warmed, once each, by the steady subscriber.
  std::set<std::string> warmed;
  while (warmed.size() < 6) {
    const cdnwarm::v1::Delivery d = steady.got.back();
    EXPECT_EQ(d.delivery_attempt(), 1u) << d.task().task_id();
    warmed.insert(d.task().task_id());
    const size_t before = steady.got.size();
    region.Ack(Ack("steady", d.ack_id(), cdnwarm::v1::ACK_OUTCOME_WARMED));
    if (steady.got.size() == before) break;
  }
  EXPECT_EQ(warmed.size(), 6u);
}

// Only a drain gives an attempt back: a subscriber that has not called Drain and answers
// RELEASE is retrying, so no client can keep a task away from the dead-letter topic.
TEST_F(RegionTest, AReleaseFromASubscriberThatDoesNotDrainIsARetry) {
  Region region(Options(), results_);  // max_attempts 3
  region.Assigned(0);
  region.Enqueue(0, 0, Task(0));
  FakeSink sly;
  ASSERT_TRUE(region.AddSubscriber("sly", 1, absl::Seconds(30), "", &sly).ok());
  for (uint32_t attempt = 1; attempt <= 3; ++attempt) {
    ASSERT_EQ(sly.got.size(), attempt);
    EXPECT_EQ(sly.got.back().delivery_attempt(), attempt);
    region.Ack(Ack("sly", sly.got.back().ack_id(), cdnwarm::v1::ACK_OUTCOME_RELEASE));
    region.Tick();  // the backoff is zero in these options
  }
  EXPECT_EQ(results_.dead.size(), 1u);
}

// Deliveries a stream never wrote (it was ending, or had them queued when it ended) were
// no attempt: they must not use one up, or a half-open connection burns a task's attempts.
TEST_F(RegionTest, DeliveriesAStreamNeverWroteAreNoAttempt) {
  RegionOptions o = Options();
  o.max_attempts = 1;
  Region region(o, results_);
  FakeSink ending, other;
  ending.refuse = true;
  ASSERT_TRUE(region.AddSubscriber("ending", 5, absl::Seconds(30), "", &ending).ok());
  region.Assigned(0);
  region.Enqueue(0, 0, Task(0));
  EXPECT_EQ(region.buffered(), 1u) << "taken back, not lost";
  ASSERT_TRUE(region.AddSubscriber("other", 5, absl::Seconds(30), "", &other).ok());
  ASSERT_EQ(other.got.size(), 1u);
  EXPECT_EQ(other.got[0].delivery_attempt(), 1u);
  // Queued on other's stream and never written when it ended.
  region.RemoveSubscriber("other", &other, {other.got[0].ack_id()});
  EXPECT_TRUE(results_.dead.empty()) << "max_attempts 1, and still no attempt used";
  FakeSink last;
  ASSERT_TRUE(region.AddSubscriber("last", 5, absl::Seconds(30), "", &last).ok());
  ASSERT_EQ(last.got.size(), 1u);
  EXPECT_EQ(last.got[0].delivery_attempt(), 1u);
}

}  // namespace
}  // namespace cdnwarm::bridge
