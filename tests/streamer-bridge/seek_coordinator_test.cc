// SeekCoordinator on the real broker, with fake local shares: a seek reaches every replica
// on the control topic and is answered once the reports cover every partition, early when
// one failed, at its deadline naming the silent ones; groups without members, commands of
// another deployment or from before Create, records that are not commands, and Stop.

#include "streamer-bridge/seek_coordinator.h"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/core/sync.h"
#include "common/kafka/kafka_admin.h"
#include "common/kafka/kafka_handles.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/kafka_test_client.h"

namespace cdnwarm::bridge {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Moved = absl::StatusOr<std::vector<cdnwarm::v1::PartitionInfo>>;

// A replica's share of each seek: what the test says it moved, and every call it got.
class FakeShare {
 public:
  struct Call {
    std::string region, group;
    absl::Time deadline;
  };
  // `moved` and `not_moved` are this replica's answer to every seek; `member` false: it is
  // not a member of the group (no report).
  FakeShare(std::string replica, std::vector<int32_t> moved, std::vector<int32_t> not_moved = {},
            bool member = true)
      : replica_(std::move(replica)),
        moved_(std::move(moved)),
        not_moved_(std::move(not_moved)),
        member_(member) {}

  SeekCoordinator::LocalSeek Local() {
    return [this](const cdnwarm::v1::SeekRequest& r, const std::string& group,
                  absl::Time deadline) -> std::optional<cdnwarm::v1::SeekReport> {
      {
        common::MutexLock lock(&mu_);
        calls_.push_back({r.region(), group, deadline});
        changed_.SignalAll();
      }
      if (!member_) return std::nullopt;
      cdnwarm::v1::SeekReport report;
      for (int32_t p : moved_) {
        cdnwarm::v1::PartitionInfo* info = report.add_moved();
        info->set_partition(p);
        info->set_committed_offset(100 + p);
        info->set_replica(replica_);
      }
      for (int32_t p : not_moved_) report.add_not_moved(p);
      if (!not_moved_.empty()) report.set_error("boom");
      return report;
    };
  }
  // True once `n` calls came, false if not within a minute.
  bool AwaitCalls(size_t n) {
    common::MutexLock lock(&mu_);
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (calls_.size() < n) {
      if (changed_.WaitWithDeadline(&mu_, deadline)) return calls_.size() >= n;
    }
    return true;
  }
  std::vector<Call> Calls() {
    common::MutexLock lock(&mu_);
    return calls_;
  }
  std::vector<std::string> Regions() {
    std::vector<std::string> out;
    for (const Call& c : Calls()) out.push_back(c.region);
    return out;
  }

 private:
  const std::string replica_;
  const std::vector<int32_t> moved_, not_moved_;
  const bool member_;
  common::Mutex mu_;
  common::CondVar changed_;
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
};

// What a seek's caller heard.
class Answer {
 public:
  SeekCoordinator::Done Done() {
    return [this](Moved moved) {
      common::MutexLock lock(&mu_);
      ++count_;
      moved_ = std::move(moved);
      at_ = absl::Now();
      changed_.SignalAll();
    };
  }
  // The answer once it came, or DEADLINE_EXCEEDED if not within a minute.
  Moved Await() {
    common::MutexLock lock(&mu_);
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (count_ == 0) {
      if (changed_.WaitWithDeadline(&mu_, deadline)) break;
    }
    if (count_ == 0) return absl::DeadlineExceededError("no answer within a minute");
    return moved_;
  }
  int count() {
    common::MutexLock lock(&mu_);
    return count_;
  }
  absl::Time at() {
    common::MutexLock lock(&mu_);
    return at_;
  }

 private:
  common::Mutex mu_;
  common::CondVar changed_;
  int count_ ABSL_GUARDED_BY(mu_) = 0;
  Moved moved_ ABSL_GUARDED_BY(mu_) = absl::UnknownError("no answer");
  absl::Time at_ ABSL_GUARDED_BY(mu_);
};

cdnwarm::v1::SeekRequest Earliest(const std::string& region) {
  cdnwarm::v1::SeekRequest r;
  r.set_region(region);
  r.set_earliest(true);
  return r;
}

std::vector<int32_t> Partitions(const std::vector<cdnwarm::v1::PartitionInfo>& infos) {
  std::vector<int32_t> out;
  for (const auto& i : infos) out.push_back(i.partition());
  return out;
}

class SeekCoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    suffix_ = absl::StrCat(absl::ToUnixMicros(absl::Now()));
    control_ = absl::StrCat("it.seek.control.", suffix_);
    requests_ = absl::StrCat("it.seek.requests.", suffix_);
    group_ = absl::StrCat("it.seek.", suffix_, ".eu");
    absl::Status s = common::EnsureTopics(
        testing::TestKafka(),
        {{.name = control_, .partitions = 1}, {.name = requests_, .partitions = 4}},
        absl::Seconds(30));
    ASSERT_TRUE(s.ok()) << s;
    // Create runs right after the topic is made, as BridgeApp does: a partition with no
    // leader yet ("Not leader for partition", seen 1 run in ~20 before Create waited for it)
    // must not fail it.
  }

  void TearDown() override {
    coordinators_.clear();  // before the shares and answers they call
    if (member_) rd_kafka_consumer_close(member_.get());
  }

  SeekOptions Options(const std::string& replica) const {
    return {.control_topic = control_,
            .requests_topic = requests_,
            .replica = replica,
            .timeout = absl::Seconds(30)};
  }

  // A replica's coordinator, reading from the control topic's end as of now.
  SeekCoordinator* Create(const SeekOptions& o, FakeShare& share) {
    absl::StatusOr<std::unique_ptr<SeekCoordinator>> c =
        SeekCoordinator::Create(testing::TestKafka(), o);
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return nullptr;
    coordinators_.push_back(*std::move(c));
    coordinators_.back()->Start(share.Local());
    return coordinators_.back().get();
  }

  // A member of `group_` (a warmer subscribed somewhere), so seeks of it are broadcast.
  void JoinGroup() {
    common::KafkaProperties p = testing::TestKafka();
    p.Set("group.id", group_);
    p.Set("enable.auto.commit", "false");
    absl::StatusOr<common::KafkaConfPtr> conf = p.ToConf();
    ASSERT_TRUE(conf.ok()) << conf.status();
    char err[512] = {};
    member_.reset(rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), err, sizeof(err)));
    ASSERT_NE(member_, nullptr) << err;
    conf->release();
    rd_kafka_poll_set_consumer(member_.get());
    common::KafkaTopicPartitionListPtr topics(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(topics.get(), requests_.c_str(), RD_KAFKA_PARTITION_UA);
    ASSERT_EQ(rd_kafka_subscribe(member_.get(), topics.get()), RD_KAFKA_RESP_ERR_NO_ERROR);
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    for (;;) {
      common::KafkaMessagePtr m(rd_kafka_consumer_poll(member_.get(), 100));
      rd_kafka_topic_partition_list_t* assignment = nullptr;
      ASSERT_EQ(rd_kafka_assignment(member_.get(), &assignment), RD_KAFKA_RESP_ERR_NO_ERROR);
      common::KafkaTopicPartitionListPtr owned(assignment);
      if (assignment->cnt > 0) return;
      ASSERT_LT(absl::Now(), deadline) << "the member never joined";
    }
  }

  // A share that lives as long as the coordinators, whose threads call it.
  FakeShare& NewShare(std::string replica, std::vector<int32_t> moved,
                      std::vector<int32_t> not_moved = {}, bool member = true) {
    shares_.push_back(std::make_unique<FakeShare>(std::move(replica), std::move(moved),
                                                  std::move(not_moved), member));
    return *shares_.back();
  }

  std::string suffix_, control_, requests_, group_;
  common::KafkaPtr member_;
  // Outlive the coordinators, whose threads call them.
  FakeShare share_a_{"a", {0, 1}};
  FakeShare share_b_{"b", {2, 3}};
  std::vector<std::unique_ptr<FakeShare>> shares_;
  Answer answer_, answer2_, answer3_;
  std::vector<std::unique_ptr<SeekCoordinator>> coordinators_;
};

TEST_F(SeekCoordinatorTest, EveryReplicaMovesItsShareAndTheCallerGetsEveryPartition) {
  JoinGroup();
  SeekCoordinator* a = Create(Options("a"), share_a_);
  ASSERT_NE(Create(Options("b"), share_b_), nullptr);
  ASSERT_NE(a, nullptr);
  const absl::Time caller_deadline = absl::Now() + absl::Seconds(20);
  a->Seek(Earliest("eu"), group_, caller_deadline, answer_.Done());

  Moved moved = answer_.Await();
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_THAT(Partitions(*moved), ElementsAre(0, 1, 2, 3));
  for (const auto& info : *moved) {
    EXPECT_EQ(info.committed_offset(), 100 + info.partition());
    EXPECT_EQ(info.replica(), info.partition() < 2 ? "a" : "b");
  }
  EXPECT_LT(answer_.at(), caller_deadline);
  // Each replica ran its share once, for the region's group, finishing a second before the
  // answer is due (which is a second before the caller's deadline).
  for (FakeShare* share : {&share_a_, &share_b_}) {
    const std::vector<FakeShare::Call> calls = share->Calls();
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].region, "eu");
    EXPECT_EQ(calls[0].group, group_);
    EXPECT_EQ(calls[0].deadline, caller_deadline - absl::Seconds(2));
  }
  EXPECT_EQ(answer_.count(), 1);
}

TEST_F(SeekCoordinatorTest, AReplicaThatCouldNotMoveAPartitionFailsTheSeekWithoutWaiting) {
  JoinGroup();
  FakeShare& b_fails = NewShare("b", {2}, {3});
  SeekCoordinator* a = Create(Options("a"), share_a_);
  ASSERT_NE(Create(Options("b"), b_fails), nullptr);
  ASSERT_NE(a, nullptr);
  const absl::Time start = absl::Now();
  a->Seek(Earliest("eu"), group_, start + absl::Minutes(5), answer_.Done());
  const Moved moved = answer_.Await();
  ASSERT_FALSE(moved.ok());
  EXPECT_EQ(moved.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(moved.status().message(),
            "seek of region eu is partial: moved partitions 0 (a), 1 (a), 2 (b); not moved: 3 "
            "(b: boom); seek again");
  // Every partition was reported: no waiting for the deadline (30 s, --seek_timeout).
  EXPECT_LT(answer_.at() - start, absl::Seconds(20));
}

TEST_F(SeekCoordinatorTest, PartitionsNobodyReportedAreNamedAtTheDeadline) {
  JoinGroup();
  FakeShare& not_member = NewShare("b", {}, {}, /*member=*/false);
  SeekCoordinator* a = Create(Options("a"), share_a_);
  ASSERT_NE(Create(Options("b"), not_member), nullptr);
  ASSERT_NE(a, nullptr);
  const absl::Time caller_deadline = absl::Now() + absl::Seconds(8);
  a->Seek(Earliest("eu"), group_, caller_deadline, answer_.Done());
  const Moved moved = answer_.Await();
  ASSERT_FALSE(moved.ok());
  EXPECT_EQ(moved.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(moved.status().message(),
            "seek of region eu is partial: moved partitions 0 (a), 1 (a); not moved: 2, 3 (no "
            "replica reported holding them before the deadline); seek again");
  EXPECT_GE(answer_.at(), caller_deadline - absl::Seconds(1)) << "it waited for the reports";
  EXPECT_LT(answer_.at(), caller_deadline) << "the caller is still there to read it";
  EXPECT_TRUE(not_member.AwaitCalls(1)) << "the command reached the other replica";
}

TEST_F(SeekCoordinatorTest, AGroupWithoutMembersIsRefusedAtOnceNamingRegionAndGroup) {
  SeekCoordinator* a = Create(Options("a"), share_a_);
  ASSERT_NE(a, nullptr);
  a->Seek(Earliest("eu"), group_, absl::Now() + absl::Seconds(20), answer_.Done());
  const Moved moved = answer_.Await();
  ASSERT_FALSE(moved.ok());
  EXPECT_EQ(moved.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(moved.status().message()),
              HasSubstr("region eu has no subscriber on any bridge replica"));
  EXPECT_THAT(std::string(moved.status().message()), HasSubstr(group_));

  // Nothing was sent: the next seek's command is the first this replica's share sees.
  JoinGroup();
  a->Seek(Earliest("us"), group_, absl::Now() + absl::Seconds(20), answer2_.Done());
  ASSERT_TRUE(share_a_.AwaitCalls(1));
  EXPECT_THAT(share_a_.Regions(), ElementsAre("us"));
  EXPECT_EQ(answer_.count(), 1);
}

TEST_F(SeekCoordinatorTest, CommandsOfAnotherDeploymentOrFromBeforeCreateAreIgnored) {
  JoinGroup();
  SeekCoordinator* a = Create(Options("a"), share_a_);
  ASSERT_NE(Create(Options("b"), share_b_), nullptr);
  ASSERT_NE(a, nullptr);
  a->Seek(Earliest("eu"), group_, absl::Now() + absl::Seconds(20), answer_.Done());
  ASSERT_TRUE(answer_.Await().ok());

  // Another deployment on the same control topic (its own requests topic, one partition),
  // and a replica that starts after the first seek.
  const std::string other_requests = absl::StrCat(requests_, ".other");
  ASSERT_TRUE(common::EnsureTopics(testing::TestKafka(),
                                   {{.name = other_requests, .partitions = 1}}, absl::Seconds(30))
                  .ok());
  FakeShare& other = NewShare("c", {0});
  SeekOptions other_options = Options("c");
  other_options.requests_topic = other_requests;
  SeekCoordinator* c = Create(other_options, other);
  FakeShare& late = NewShare("d", {}, {}, /*member=*/false);
  SeekCoordinator* d = Create(Options("d"), late);
  ASSERT_NE(c, nullptr);
  ASSERT_NE(d, nullptr);

  c->Seek(Earliest("us"), group_, absl::Now() + absl::Seconds(20), answer3_.Done());
  const Moved other_moved = answer3_.Await();
  ASSERT_TRUE(other_moved.ok()) << other_moved.status();
  EXPECT_THAT(Partitions(*other_moved), ElementsAre(0)) << "its own topic's one partition";

  d->Seek(Earliest("ap"), group_, absl::Now() + absl::Seconds(20), answer2_.Done());
  const Moved moved = answer2_.Await();
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_THAT(Partitions(*moved), ElementsAre(0, 1, 2, 3));
  // The control partition is read in order: a share of "ap" means "us" was read before it.
  EXPECT_THAT(share_a_.Regions(), ElementsAre("eu", "ap")) << "never the other deployment's";
  EXPECT_THAT(share_b_.Regions(), ElementsAre("eu", "ap"));
  EXPECT_THAT(late.Regions(), ElementsAre("ap")) << "never a command from before Create";
  EXPECT_THAT(other.Regions(), ::testing::Contains("us"));
  EXPECT_THAT(other.Regions(), ::testing::Not(::testing::Contains("eu")));
}

TEST_F(SeekCoordinatorTest, ARecordThatIsNotACommandIsSkippedAndTheTimeoutBoundsTheSeek) {
  JoinGroup();
  FakeShare& all = NewShare("a", {0, 1, 2, 3});
  SeekOptions o = Options("a");
  o.timeout = absl::Seconds(6);
  SeekCoordinator* a = Create(o, all);
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(testing::ProduceRecords(control_, {{"k", "not a task"}}).ok());
  const absl::Time before = absl::Now();
  a->Seek(Earliest("eu"), group_, before + absl::Minutes(5), answer_.Done());
  const Moved moved = answer_.Await();
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_THAT(Partitions(*moved), ElementsAre(0, 1, 2, 3));
  // --seek_timeout, not the caller's five minutes, sets when shares must finish.
  const std::vector<FakeShare::Call> calls = all.Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_GE(calls[0].deadline, before + absl::Seconds(5));
  EXPECT_LE(calls[0].deadline, answer_.at() + absl::Seconds(5));
}

TEST_F(SeekCoordinatorTest, StopAnswersTheWaitingSeeksAndRefusesNewOnesAtOnce) {
  JoinGroup();
  FakeShare& not_member = NewShare("a", {}, {}, /*member=*/false);
  SeekCoordinator* a = Create(Options("a"), not_member);
  ASSERT_NE(a, nullptr);
  a->Seek(Earliest("eu"), group_, absl::Now() + absl::Minutes(5), answer_.Done());
  ASSERT_TRUE(not_member.AwaitCalls(1)) << "the command is out and the seek waits for reports";
  EXPECT_EQ(answer_.count(), 0);

  a->Stop();
  EXPECT_EQ(answer_.count(), 1) << "answered on the thread calling Stop";
  const Moved waiting = answer_.Await();
  EXPECT_EQ(waiting.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(waiting.status().message(),
            "the bridge is shutting down; partitions may have moved: list them and seek again");

  a->Seek(Earliest("eu"), group_, absl::Now() + absl::Minutes(5), answer2_.Done());
  EXPECT_EQ(answer2_.count(), 1) << "answered before Seek returned";
  const Moved refused = answer2_.Await();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(refused.status().message(), "the bridge is shutting down; seek again");

  a->Stop();
  coordinators_.clear();
  EXPECT_EQ(answer_.count(), 1) << "each seek is answered exactly once";
  EXPECT_EQ(answer2_.count(), 1);
}

TEST(SeekCoordinatorCreateTest, AMissingControlTopicIsUnavailableSayingToCreateIt) {
  const std::string control = absl::StrCat("it.seek.no-control.", absl::ToUnixMicros(absl::Now()));
  // Create retries a topic it does not find yet for `start_timeout` (15 s in the bridge).
  absl::StatusOr<std::unique_ptr<SeekCoordinator>> c =
      SeekCoordinator::Create(testing::TestKafka(), {.control_topic = control,
                                                     .requests_topic = "r",
                                                     .replica = "a",
                                                     .start_timeout = absl::Seconds(1)});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr(absl::StrCat("control topic ", control)));
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("(create it with one partition)"));
}

}  // namespace
}  // namespace cdnwarm::bridge
