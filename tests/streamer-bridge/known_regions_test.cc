// KnownRegions on the real broker: --regions checks, each region's group anchored at start
// (earliest, or the first task from a minute before; committed offsets and groups with
// members left alone), the refreshed positions ListSubscriptions shows, and start-up errors.

#include "streamer-bridge/known_regions.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/kafka/kafka_admin.h"
#include "common/kafka/kafka_handles.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/kafka_test_client.h"

namespace cdnwarm::bridge {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kNoOffset = RD_KAFKA_OFFSET_INVALID;

// True once `cond` holds, false if it does not within a minute.
bool Eventually(const std::function<bool()>& cond) {
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!cond()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(50));  // polling a condition, with a deadline
  }
  return true;
}

common::KafkaPtr NewClient(rd_kafka_type_t type, const common::KafkaProperties& props) {
  absl::StatusOr<common::KafkaConfPtr> conf = props.ToConf();
  EXPECT_TRUE(conf.ok()) << conf.status();
  if (!conf.ok()) return nullptr;
  char err[512] = {};
  common::KafkaPtr rk(rd_kafka_new(type, conf->get(), err, sizeof(err)));
  EXPECT_NE(rk, nullptr) << err;
  if (rk) conf->release();
  return rk;
}

class KnownRegionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    suffix_ = absl::StrCat(absl::ToUnixMicros(absl::Now()));
    topic_ = absl::StrCat("it.known.requests.", suffix_);
  }

  std::string Group(const std::string& region) const {
    return absl::StrCat("it.known.", suffix_, ".", region);
  }

  KnownRegionsOptions Options(std::vector<std::string> regions, bool earliest) const {
    return {.kafka = testing::TestKafka(),
            .topic = topic_,
            .regions = std::move(regions),
            .group_of = [this](const std::string& r) { return Group(r); },
            .earliest = earliest,
            .refresh = absl::Milliseconds(100)};
  }

  std::unique_ptr<KnownRegions> Start(KnownRegionsOptions o) {
    absl::StatusOr<std::unique_ptr<KnownRegions>> k = KnownRegions::Start(std::move(o));
    EXPECT_TRUE(k.ok()) << k.status();
    return k.ok() ? *std::move(k) : nullptr;
  }

  void CreateTopic(int partitions) {
    partitions_ = partitions;
    absl::Status s = common::EnsureTopics(
        testing::TestKafka(), {{.name = topic_, .partitions = partitions}}, absl::Seconds(30));
    ASSERT_TRUE(s.ok()) << s;
  }

  // `n` records on `partition`, each with timestamp `at`.
  void ProduceAt(int32_t partition, absl::Time at, int n) {
    common::KafkaPtr rk = NewClient(RD_KAFKA_PRODUCER, testing::TestKafka());
    ASSERT_NE(rk, nullptr);
    for (int i = 0; i < n; ++i) {
      const std::string value = absl::StrCat("task ", i);
      std::vector<rd_kafka_vu_t> vus(5);
      vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
      vus[0].u.cstr = topic_.c_str();
      vus[1].vtype = RD_KAFKA_VTYPE_VALUE;
      vus[1].u.mem = {const_cast<char*>(value.data()), value.size()};
      vus[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
      vus[2].u.i = RD_KAFKA_MSG_F_COPY;
      vus[3].vtype = RD_KAFKA_VTYPE_PARTITION;
      vus[3].u.i32 = partition;
      vus[4].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
      vus[4].u.i64 = absl::ToUnixMillis(at);
      common::KafkaErrorPtr e(rd_kafka_produceva(rk.get(), vus.data(), vus.size()));
      ASSERT_EQ(e, nullptr) << rd_kafka_error_string(e.get());
    }
    ASSERT_EQ(rd_kafka_flush(rk.get(), 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  }

  // The group's committed offsets as the broker has them (kNoOffset where none).
  std::map<int32_t, int64_t> Committed(const std::string& region) {
    common::KafkaProperties p = testing::TestKafka();
    p.Set("group.id", Group(region));
    common::KafkaPtr rk = NewClient(RD_KAFKA_CONSUMER, p);
    std::map<int32_t, int64_t> out;
    if (!rk) return out;
    common::KafkaTopicPartitionListPtr list(rd_kafka_topic_partition_list_new(partitions_));
    for (int i = 0; i < partitions_; ++i) {
      rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), i);
    }
    EXPECT_EQ(rd_kafka_committed(rk.get(), list.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    for (int i = 0; i < list->cnt; ++i) out[list->elems[i].partition] = list->elems[i].offset;
    rd_kafka_consumer_close(rk.get());
    return out;
  }

  // Commits `offsets` for the region's group from outside it (the group has no members).
  void CommitFromOutside(const std::string& region, const std::map<int32_t, int64_t>& offsets) {
    common::KafkaProperties p = testing::TestKafka();
    p.Set("group.id", Group(region));
    p.Set("enable.auto.commit", "false");
    common::KafkaPtr rk = NewClient(RD_KAFKA_CONSUMER, p);
    ASSERT_NE(rk, nullptr);
    common::KafkaTopicPartitionListPtr list(rd_kafka_topic_partition_list_new(1));
    for (const auto& [partition, offset] : offsets) {
      rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), partition)->offset = offset;
    }
    ASSERT_EQ(rd_kafka_commit(rk.get(), list.get(), 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_consumer_close(rk.get());
  }

  std::string suffix_, topic_;
  int partitions_ = 1;
};

TEST(KnownRegionsNoListTest, WithoutAListAnyRegionIsAcceptedAndKafkaIsNotAsked) {
  KnownRegionsOptions o;
  o.kafka.Set("bootstrap.servers", "127.0.0.1:1");  // nothing there; never reached
  o.topic = "nowhere";
  absl::StatusOr<std::unique_ptr<KnownRegions>> k = KnownRegions::Start(std::move(o));
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_TRUE((*k)->regions().empty());
  EXPECT_TRUE((*k)->Check("eu").ok());
  EXPECT_TRUE((*k)->Check("anything-at-all").ok());
  EXPECT_TRUE((*k)->Positions("eu").empty());
}

TEST_F(KnownRegionsTest, ARegionNotOnTheListIsRefusedNamingItAndTheList) {
  CreateTopic(1);
  std::unique_ptr<KnownRegions> k = Start(Options({"eu", "us"}, false));
  ASSERT_NE(k, nullptr);
  EXPECT_THAT(k->regions(), ::testing::ElementsAre("eu", "us"));
  EXPECT_TRUE(k->Check("eu").ok());
  EXPECT_TRUE(k->Check("us").ok());
  const absl::Status s = k->Check("ap");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "region: \"ap\" is not one of this deployment's regions (eu, us)");
}

// Partition 0: three tasks from ten minutes ago, then two from now; partition 1: two old
// ones only. A region anchored a minute before the start skips the old ones.
TEST_F(KnownRegionsTest, WithoutEarliestEachGroupStartsAtTheFirstTaskFromAMinuteBefore) {
  CreateTopic(2);
  const absl::Time now = absl::Now();
  ProduceAt(0, now - absl::Minutes(10), 3);
  ProduceAt(0, now, 2);
  ProduceAt(1, now - absl::Minutes(10), 2);
  std::unique_ptr<KnownRegions> k = Start(Options({"eu", "us"}, false));
  ASSERT_NE(k, nullptr);
  const std::map<int32_t, int64_t> expected = {{0, 3}, {1, 2}};  // partition 1: its log end
  EXPECT_EQ(Committed("eu"), expected);
  EXPECT_EQ(Committed("us"), expected);
}

TEST_F(KnownRegionsTest, WithEarliestEachGroupStartsAtTheFirstRetainedTask) {
  CreateTopic(2);
  const absl::Time now = absl::Now();
  ProduceAt(0, now - absl::Minutes(10), 3);
  ProduceAt(0, now, 2);
  ProduceAt(1, now - absl::Minutes(10), 2);
  std::unique_ptr<KnownRegions> k = Start(Options({"eu", "us"}, true));
  ASSERT_NE(k, nullptr);
  const std::map<int32_t, int64_t> expected = {{0, 0}, {1, 0}};
  EXPECT_EQ(Committed("eu"), expected);
  EXPECT_EQ(Committed("us"), expected);
}

TEST_F(KnownRegionsTest, AnOffsetTheGroupHasCommittedIsLeftAsItIs) {
  CreateTopic(2);
  const absl::Time now = absl::Now();
  ProduceAt(0, now, 4);
  ProduceAt(1, now, 4);
  CommitFromOutside("eu", {{0, 3}});
  std::unique_ptr<KnownRegions> k = Start(Options({"eu"}, true));
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(Committed("eu"), (std::map<int32_t, int64_t>{{0, 3}, {1, 0}}))
      << "partition 0 kept its offset; only partition 1 was anchored";
}

TEST_F(KnownRegionsTest, AGroupWithMembersIsLeftToThem) {
  CreateTopic(1);
  ProduceAt(0, absl::Now(), 2);
  // A member of eu's group that holds the partition and has committed nothing.
  common::KafkaProperties p = testing::TestKafka();
  p.Set("group.id", Group("eu"));
  p.Set("enable.auto.commit", "false");
  common::KafkaPtr member = NewClient(RD_KAFKA_CONSUMER, p);
  ASSERT_NE(member, nullptr);
  rd_kafka_poll_set_consumer(member.get());
  common::KafkaTopicPartitionListPtr topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), topic_.c_str(), RD_KAFKA_PARTITION_UA);
  ASSERT_EQ(rd_kafka_subscribe(member.get(), topics.get()), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_TRUE(Eventually([&] {
    common::KafkaMessagePtr m(rd_kafka_consumer_poll(member.get(), 100));
    rd_kafka_topic_partition_list_t* assignment = nullptr;
    if (rd_kafka_assignment(member.get(), &assignment) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
    common::KafkaTopicPartitionListPtr owned(assignment);
    return assignment->cnt == 1;
  }));

  std::unique_ptr<KnownRegions> k = Start(Options({"eu", "us"}, true));
  ASSERT_NE(k, nullptr) << "a group with members is no start-up error";
  EXPECT_EQ(Committed("eu")[0], kNoOffset) << "its members anchor what they are assigned";
  EXPECT_EQ(Committed("us")[0], 0) << "a group without members is anchored";
  rd_kafka_consumer_close(member.get());
}

TEST_F(KnownRegionsTest, PositionsShowEachPartitionsCommittedOffsetEndAndLag) {
  CreateTopic(2);
  const absl::Time now = absl::Now();
  ProduceAt(0, now, 5);
  ProduceAt(1, now, 2);
  std::unique_ptr<KnownRegions> k = Start(Options({"eu"}, true));
  ASSERT_NE(k, nullptr);
  const auto shows = [&](int64_t committed0) {
    const std::vector<cdnwarm::v1::PartitionInfo> ps = k->Positions("eu");
    return ps.size() == 2 && ps[0].partition() == 0 && ps[0].committed_offset() == committed0 &&
           ps[0].end_offset() == 5 && ps[0].lag() == 5 - committed0 && ps[1].partition() == 1 &&
           ps[1].committed_offset() == 0 && ps[1].end_offset() == 2 && ps[1].lag() == 2;
  };
  EXPECT_TRUE(Eventually([&] { return shows(0); })) << "the anchored start, the ends, the lag";
  EXPECT_TRUE(k->Positions("ap").empty()) << "a region not on the list";

  CommitFromOutside("eu", {{0, 4}});
  EXPECT_TRUE(Eventually([&] { return shows(4); })) << "a later commit shows at the next refresh";

  // The refresh thread waits between refreshes; the destructor wakes it.
  KnownRegionsOptions slow = Options({"eu"}, true);
  slow.refresh = absl::Hours(1);
  std::unique_ptr<KnownRegions> idle = Start(std::move(slow));
  ASSERT_NE(idle, nullptr);
  ASSERT_TRUE(Eventually([&] { return !idle->Positions("eu").empty(); }));
  const absl::Time before = absl::Now();
  idle.reset();
  EXPECT_LT(absl::Now() - before, absl::Seconds(5));
}

TEST_F(KnownRegionsTest, AMissingRequestsTopicIsNotFoundNamingIt) {
  absl::StatusOr<std::unique_ptr<KnownRegions>> k = KnownRegions::Start(Options({"eu"}, false));
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), absl::StatusCode::kNotFound) << k.status();
  EXPECT_THAT(std::string(k.status().message()), HasSubstr(topic_));
}

TEST_F(KnownRegionsTest, AClusterThatIsNotThereIsUnavailableAtTheTimeout) {
  KnownRegionsOptions o = Options({"eu"}, false);
  o.kafka.Set("bootstrap.servers", "127.0.0.1:1");
  o.timeout = absl::Seconds(1);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<KnownRegions>> k = KnownRegions::Start(std::move(o));
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), absl::StatusCode::kUnavailable) << k.status();
  EXPECT_THAT(std::string(k.status().message()), HasSubstr(topic_));
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
}

TEST_F(KnownRegionsTest, AGroupThatCannotBeReadFailsNamingTheRegion) {
  CreateTopic(1);
  KnownRegionsOptions o = Options({"eu", "us"}, false);
  o.group_of = [this](const std::string& r) { return r == "us" ? "" : Group(r); };
  o.timeout = absl::Seconds(2);
  absl::StatusOr<std::unique_ptr<KnownRegions>> k = KnownRegions::Start(std::move(o));
  ASSERT_FALSE(k.ok());
  EXPECT_THAT(std::string(k.status().message()), ::testing::StartsWith("--regions: region us: "))
      << k.status();
}

}  // namespace
}  // namespace cdnwarm::bridge
