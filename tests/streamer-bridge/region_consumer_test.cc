// RegionConsumer on the real broker, driven directly with a Region: the group's settings,
// where a new group starts (anchored and committed at once), records into the region and
// undecodable ones into dead letters, commits of finished work (periodic and on close),
// pausing on a full buffer, sharing partitions with another member, and seeks.

#include "streamer-bridge/region_consumer.h"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/core/proto_time.h"
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

// A subscriber: what it was sent, from the consumer's thread.
struct FakeSink : DeliverySink {
  bool Send(cdnwarm::v1::Delivery d) override {
    common::MutexLock lock(&mu);
    got.push_back(std::move(d));
    changed.SignalAll();
    return true;
  }
  // True once at least `n` deliveries came, false if not within a minute.
  bool AwaitCount(size_t n) {
    common::MutexLock lock(&mu);
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (got.size() < n) {
      if (changed.WaitWithDeadline(&mu, deadline)) return got.size() >= n;
    }
    return true;
  }
  std::vector<cdnwarm::v1::Delivery> Got() {
    common::MutexLock lock(&mu);
    return got;
  }
  common::Mutex mu;
  common::CondVar changed;
  std::vector<cdnwarm::v1::Delivery> got ABSL_GUARDED_BY(mu);
};

// Kafka "stores" every record at once; dead letters are kept with their source.
struct FakeResults : ResultSink {
  struct DeadLetterCopy {
    int32_t partition;
    int64_t offset;
    std::string raw_key, raw_value;
  };
  void Result(const cdnwarm::v1::WarmResult&, std::function<void()> stored) override { stored(); }
  void DeadLetter(const cdnwarm::v1::WarmTask&, const cdnwarm::v1::WarmResult&,
                  const DeadLetterSource& source, std::function<void()> stored) override {
    {
      common::MutexLock lock(&mu);
      dead.push_back({source.partition, source.offset,
                      source.raw_key != nullptr ? *source.raw_key : "<none>",
                      source.raw_value != nullptr ? *source.raw_value : "<none>"});
    }
    stored();
  }
  std::vector<DeadLetterCopy> DeadLetters() {
    common::MutexLock lock(&mu);
    return dead;
  }
  common::Mutex mu;
  std::vector<DeadLetterCopy> dead ABSL_GUARDED_BY(mu);
};

cdnwarm::v1::WarmTask Task(int i) {
  cdnwarm::v1::WarmTask t;
  t.set_task_id(absl::StrCat("j/", i));
  t.set_job_id("j");
  t.set_url(absl::StrCat("https://example.com/", i));
  return t;
}

// True once `cond` holds, false if it does not within a minute.
bool Eventually(const std::function<bool()>& cond) {
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!cond()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(50));  // polling a condition, with a deadline
  }
  return true;
}

std::set<std::string> TaskIds(const std::vector<cdnwarm::v1::Delivery>& ds) {
  std::set<std::string> ids;
  for (const auto& d : ds) ids.insert(d.task().task_id());
  return ids;
}

std::vector<int32_t> PartitionNumbers(const std::vector<cdnwarm::v1::PartitionInfo>& infos) {
  std::vector<int32_t> out;
  for (const auto& i : infos) out.push_back(i.partition());
  return out;
}

// Region "eu" of replica "r1", on the real clock (the consumer thread ticks it).
RegionOptions EuRegion() {
  RegionOptions o;
  o.region = "eu";
  o.replica = "r1";
  o.max_attempts = 3;
  o.min_backoff = absl::ZeroDuration();
  return o;
}

class RegionConsumerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    suffix_ = absl::StrCat(absl::ToUnixMicros(absl::Now()));
    topic_ = absl::StrCat("it.consumer.requests.", suffix_);
    group_ = absl::StrCat("it.consumer.", suffix_, ".eu");
  }

  void CreateTopic(int partitions) {
    partitions_ = partitions;
    absl::Status s = common::EnsureTopics(
        testing::TestKafka(), {{.name = topic_, .partitions = partitions}}, absl::Seconds(30));
    ASSERT_TRUE(s.ok()) << s;
  }

  ConsumerOptions Options(const std::string& reset) {
    ConsumerOptions o;
    o.kafka = testing::TestKafka();
    o.topic = topic_;
    o.group = group_;
    o.auto_offset_reset = reset;
    o.commit_interval = absl::Milliseconds(100);
    return o;
  }

  std::unique_ptr<RegionConsumer> Start(const ConsumerOptions& o, Region& region) {
    absl::StatusOr<std::unique_ptr<RegionConsumer>> c = RegionConsumer::Start(o, region, metrics_);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  // Tasks `first`.. keyed by URL (the partitioner spreads them).
  void ProduceTasks(int n, int first = 0) {
    std::vector<std::pair<std::string, std::string>> records;
    for (int i = first; i < first + n; ++i) {
      records.emplace_back(Task(i).url(), Task(i).SerializeAsString());
    }
    absl::Status s = testing::ProduceRecords(topic_, records);
    ASSERT_TRUE(s.ok()) << s;
  }

  // Records with the given values on partition 0, each with timestamp `at`.
  void ProduceAt(absl::Time at, int first, int n) {
    absl::StatusOr<common::KafkaConfPtr> conf = testing::TestKafka().ToConf();
    ASSERT_TRUE(conf.ok()) << conf.status();
    char err[512] = {};
    common::KafkaPtr rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), err, sizeof(err)));
    ASSERT_NE(rk, nullptr) << err;
    conf->release();
    for (int i = first; i < first + n; ++i) {
      const std::string value = Task(i).SerializeAsString();
      std::vector<rd_kafka_vu_t> vus(5);
      vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
      vus[0].u.cstr = topic_.c_str();
      vus[1].vtype = RD_KAFKA_VTYPE_VALUE;
      vus[1].u.mem = {const_cast<char*>(value.data()), value.size()};
      vus[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
      vus[2].u.i = RD_KAFKA_MSG_F_COPY;
      vus[3].vtype = RD_KAFKA_VTYPE_PARTITION;
      vus[3].u.i32 = 0;
      vus[4].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
      vus[4].u.i64 = absl::ToUnixMillis(at);
      common::KafkaErrorPtr e(rd_kafka_produceva(rk.get(), vus.data(), vus.size()));
      ASSERT_EQ(e, nullptr) << rd_kafka_error_string(e.get());
    }
    ASSERT_EQ(rd_kafka_flush(rk.get(), 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  }

  // The group's committed offsets as the broker has them (-1001 where none).
  std::map<int32_t, int64_t> BrokerCommitted() {
    common::KafkaProperties p = testing::TestKafka();
    p.Set("group.id", group_);
    absl::StatusOr<common::KafkaConfPtr> conf = p.ToConf();
    EXPECT_TRUE(conf.ok());
    char err[512] = {};
    common::KafkaPtr rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), err, sizeof(err)));
    conf->release();
    common::KafkaTopicPartitionListPtr list(rd_kafka_topic_partition_list_new(partitions_));
    for (int i = 0; i < partitions_; ++i) {
      rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), i);
    }
    std::map<int32_t, int64_t> out;
    if (rd_kafka_committed(rk.get(), list.get(), 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      for (int i = 0; i < list->cnt; ++i) out[list->elems[i].partition] = list->elems[i].offset;
    }
    rd_kafka_consumer_close(rk.get());
    return out;
  }

  // Every partition's log end, from the records in it.
  std::map<int32_t, int64_t> EndOffsets() {
    absl::StatusOr<std::vector<testing::Record>> records = testing::ReadTopic(topic_);
    EXPECT_TRUE(records.ok()) << records.status();
    std::map<int32_t, int64_t> end;
    for (int p = 0; p < partitions_; ++p) end[p] = 0;
    if (!records.ok()) return end;
    for (const auto& r : *records) end[r.partition] = std::max(end[r.partition], r.offset + 1);
    return end;
  }

  // Acks every delivery of `ds` as warmed.
  static void AckAll(Region& region, const std::vector<cdnwarm::v1::Delivery>& ds) {
    cdnwarm::v1::AckRequest r;
    r.set_subscriber_id("w1");
    for (const auto& d : ds) {
      auto* e = r.add_entries();
      e->set_ack_id(d.ack_id());
      e->set_outcome(cdnwarm::v1::ACK_OUTCOME_WARMED);
    }
    for (auto status : region.Ack(r)) EXPECT_EQ(status, cdnwarm::v1::ACK_STATUS_OK);
  }

  static cdnwarm::v1::SeekRequest SeekTo(const std::function<void(cdnwarm::v1::SeekRequest&)>& f) {
    cdnwarm::v1::SeekRequest r;
    r.set_region("eu");
    f(r);
    return r;
  }

  std::string suffix_, topic_, group_;
  int partitions_ = 1;
  metrics::Registry metrics_;
  FakeResults results_;
  FakeSink sink_;
};

TEST(ConsumerPropertiesTest, TheGroupCommitsByHandAndAssignsCooperatively) {
  ConsumerOptions o;
  o.kafka.Set("bootstrap.servers", "kafka-a:9092");
  o.kafka.Set("enable.auto.commit", "true");  // what a properties file may say
  o.kafka.Set("auto.offset.reset", "latest");
  o.group = "cdnwarm.bridge.eu";
  o.auto_offset_reset = "latest";
  const common::KafkaProperties p = ConsumerProperties(o);
  const auto value = [&](const char* key) {
    const std::string* v = p.Find(key);
    return v != nullptr ? *v : std::string("<unset>");
  };
  EXPECT_EQ(value("bootstrap.servers"), "kafka-a:9092");
  EXPECT_EQ(value("group.id"), "cdnwarm.bridge.eu");
  EXPECT_EQ(value("enable.auto.commit"), "false");
  EXPECT_EQ(value("enable.auto.offset.store"), "false");
  // A new group's start is the bridge's own (anchored); librdkafka's reset only meets an
  // offset retention deleted, and resumes at the oldest retained task then.
  EXPECT_EQ(value("auto.offset.reset"), "earliest");
  EXPECT_EQ(value("partition.assignment.strategy"), "cooperative-sticky");
  // The prefetch that waits while the region's buffer is full is bounded, unless set.
  EXPECT_EQ(value("queued.max.messages.kbytes"), "8192");
  EXPECT_TRUE(p.ToConf().ok());
  o.kafka.Set("queued.max.messages.kbytes", "4096");
  EXPECT_EQ(*ConsumerProperties(o).Find("queued.max.messages.kbytes"), "4096");
}

TEST(RegionConsumerStartTest, SettingsKafkaRefusesAreAnErrorNamingTheProperty) {
  metrics::Registry metrics;
  FakeResults results;
  Region region(EuRegion(), results);
  ConsumerOptions o;
  o.kafka = testing::TestKafka();
  o.kafka.Set("no.such.property", "1");
  o.topic = "t";
  o.group = "g";
  absl::StatusOr<std::unique_ptr<RegionConsumer>> c = RegionConsumer::Start(o, region, metrics);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("no.such.property"));
}

TEST_F(RegionConsumerTest, EarliestReadsTheBacklogIntoTheRegionAndCommitsWhatIsFinished) {
  CreateTopic(3);
  constexpr int kTasks = 30;
  ProduceTasks(kTasks);
  const std::map<int32_t, int64_t> end = EndOffsets();
  Region region(EuRegion(), results_);
  ASSERT_TRUE(region.AddSubscriber("w1", 100, absl::Seconds(60), "", &sink_).ok());
  std::unique_ptr<RegionConsumer> consumer = Start(Options("earliest"), region);
  ASSERT_NE(consumer, nullptr);

  ASSERT_TRUE(sink_.AwaitCount(kTasks));
  const std::vector<cdnwarm::v1::Delivery> got = sink_.Got();
  EXPECT_EQ(got.size(), static_cast<size_t>(kTasks));
  EXPECT_EQ(TaskIds(got).size(), static_cast<size_t>(kTasks));
  EXPECT_TRUE(consumer->assigned_any());
  EXPECT_THAT(PartitionNumbers(consumer->Partitions()), ElementsAre(0, 1, 2));
  // Nothing is finished yet: the group stays at the start it anchored.
  EXPECT_EQ(BrokerCommitted(), (std::map<int32_t, int64_t>{{0, 0}, {1, 0}, {2, 0}}));

  AckAll(region, got);
  EXPECT_TRUE(Eventually([&] { return BrokerCommitted() == end; }));
  // What ListSubscriptions shows: the committed offsets, the ends, no lag.
  EXPECT_TRUE(Eventually([&] {
    for (const auto& info : consumer->Partitions()) {
      if (info.committed_offset() != end.at(info.partition()) ||
          info.end_offset() != end.at(info.partition()) || info.lag() != 0 || info.paused()) {
        return false;
      }
    }
    return true;
  }));
  EXPECT_THAT(metrics_.Render(),
              HasSubstr(absl::StrCat(
                  "cdnwarm_bridge_records_consumed_total{region=\"eu\",result=\"ok\"} ", kTasks)));
}

TEST_F(RegionConsumerTest, LatestSkipsTheBacklogAndCommitsItsStartBeforeReading) {
  CreateTopic(3);
  ProduceTasks(6);
  const std::map<int32_t, int64_t> backlog_end = EndOffsets();
  Region region(EuRegion(), results_);
  ASSERT_TRUE(region.AddSubscriber("w1", 100, absl::Seconds(60), "", &sink_).ok());
  std::unique_ptr<RegionConsumer> consumer = Start(Options("latest"), region);
  ASSERT_NE(consumer, nullptr);
  // The start (the log end) is committed on assignment, so a crash before the first ack
  // cannot resolve "latest" again later and skip what came in between.
  ASSERT_TRUE(Eventually([&] { return consumer->Partitions().size() == 3; }));
  EXPECT_TRUE(Eventually([&] { return BrokerCommitted() == backlog_end; }));

  ProduceTasks(3, 100);
  ASSERT_TRUE(sink_.AwaitCount(3));
  EXPECT_THAT(TaskIds(sink_.Got()), ElementsAre("j/100", "j/101", "j/102"))
      << "only the tasks produced after the start";
}

TEST_F(RegionConsumerTest, ARecordThatIsNotAWarmTaskIsDeadLetteredWithItsOwnBytes) {
  CreateTopic(1);
  cdnwarm::v1::WarmTask no_url = Task(1);
  no_url.clear_url();
  ASSERT_TRUE(testing::ProduceRecords(topic_, {{"k0", "not a task"},
                                               {"k1", no_url.SerializeAsString()},
                                               {"k2", Task(2).SerializeAsString()}})
                  .ok());
  Region region(EuRegion(), results_);
  std::unique_ptr<RegionConsumer> consumer = Start(Options("earliest"), region);
  ASSERT_NE(consumer, nullptr);

  ASSERT_TRUE(Eventually([&] { return results_.DeadLetters().size() == 2; }));
  const std::vector<FakeResults::DeadLetterCopy> dead = results_.DeadLetters();
  EXPECT_EQ(dead[0].partition, 0);
  EXPECT_EQ(dead[0].offset, 0);
  EXPECT_EQ(dead[0].raw_key, "k0");
  EXPECT_EQ(dead[0].raw_value, "not a task");
  EXPECT_EQ(dead[1].offset, 1);
  EXPECT_EQ(dead[1].raw_key, "k1");
  EXPECT_EQ(dead[1].raw_value, no_url.SerializeAsString());
  // The good task waits for a subscriber; the dead letters are finished and committed.
  EXPECT_TRUE(Eventually([&] { return region.buffered() == 1; }));
  EXPECT_TRUE(Eventually([&] { return BrokerCommitted()[0] == 2; }));
  const std::string metrics = metrics_.Render();
  EXPECT_THAT(metrics,
              HasSubstr("cdnwarm_bridge_records_consumed_total{region=\"eu\",result=\"ok\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("cdnwarm_bridge_records_consumed_total{region=\"eu\",result="
                                 "\"unparsable\"} 2"));
}

TEST_F(RegionConsumerTest, ClosingCommitsWhatIsFinishedAndNoMore) {
  CreateTopic(1);
  ProduceTasks(4);
  Region region(EuRegion(), results_);
  ASSERT_TRUE(region.AddSubscriber("w1", 10, absl::Seconds(60), "", &sink_).ok());
  ConsumerOptions o = Options("earliest");
  o.commit_interval = absl::Hours(1);  // no periodic commit: only the close's
  std::unique_ptr<RegionConsumer> consumer = Start(o, region);
  ASSERT_NE(consumer, nullptr);
  ASSERT_TRUE(sink_.AwaitCount(4));
  std::vector<cdnwarm::v1::Delivery> got = sink_.Got();
  std::sort(got.begin(), got.end(),
            [](const auto& a, const auto& b) { return a.task().task_id() < b.task().task_id(); });
  AckAll(region, {got[0], got[1], got[2]});  // offsets 0..2 finished, 3 still out
  EXPECT_EQ(BrokerCommitted()[0], 0) << "the anchored start, until the close";
  consumer.reset();
  EXPECT_EQ(BrokerCommitted()[0], 3);
}

// A buffer that fills while subscribers are busy stops the polling, not the fetching: no
// pause (which drops librdkafka's prefetch and waits up to a second for the next fetch),
// and nothing read past the limit. Reading goes on as soon as there is room.
TEST_F(RegionConsumerTest, AFullBufferStopsReadingWithoutPausingUntilThereIsRoom) {
  CreateTopic(1);
  constexpr int kTasks = 20;
  ProduceTasks(kTasks);
  Region region(EuRegion(), results_);
  ConsumerOptions o = Options("earliest");
  o.buffer_limit = 4;
  o.pause_after = absl::Hours(1);
  std::unique_ptr<RegionConsumer> consumer = Start(o, region);
  ASSERT_NE(consumer, nullptr);
  ASSERT_TRUE(Eventually([&] { return region.buffered() == 4u; }));
  EXPECT_FALSE(consumer->Partitions()[0].paused());
  ASSERT_TRUE(region.AddSubscriber("w1", 2, absl::Seconds(60), "", &sink_).ok());
  ASSERT_TRUE(sink_.AwaitCount(2));
  EXPECT_TRUE(Eventually([&] { return region.buffered() == 4u; })) << "refilled to the limit";
  // Credit for the rest, two at a time as acks free it.
  for (int acked = 0; acked < kTasks; acked += 2) {
    ASSERT_TRUE(sink_.AwaitCount(static_cast<size_t>(acked + 2))) << acked;
    const std::vector<cdnwarm::v1::Delivery> got = sink_.Got();
    AckAll(region, {got[static_cast<size_t>(acked)], got[static_cast<size_t>(acked + 1)]});
    EXPECT_LE(region.buffered(), 4u);
  }
  EXPECT_EQ(TaskIds(sink_.Got()).size(), static_cast<size_t>(kTasks));
  EXPECT_EQ(sink_.Got().size(), static_cast<size_t>(kTasks)) << "nothing was read twice";
  EXPECT_THAT(metrics_.Render(), HasSubstr("cdnwarm_bridge_pauses_total{region=\"eu\"} 0"));
  EXPECT_TRUE(Eventually([&] { return BrokerCommitted()[0] == kTasks; }));
}

// A buffer that stays full for pause_after (no subscriber takes anything) pauses the
// partitions; once it drains to half, reading resumes.
TEST_F(RegionConsumerTest, AFullBufferPausesReadingAndADrainedOneResumes) {
  CreateTopic(1);
  constexpr int kTasks = 20;
  ProduceTasks(kTasks);
  Region region(EuRegion(), results_);
  ConsumerOptions o = Options("earliest");
  o.buffer_limit = 4;
  o.pause_after = absl::Milliseconds(100);
  std::unique_ptr<RegionConsumer> consumer = Start(o, region);
  ASSERT_NE(consumer, nullptr);
  ASSERT_TRUE(Eventually([&] {
    const auto parts = consumer->Partitions();
    return parts.size() == 1 && parts[0].paused();
  })) << "no subscriber takes anything: the region's partitions pause";
  EXPECT_GE(region.buffered(), 4u);
  EXPECT_THAT(metrics_.Render(), HasSubstr("cdnwarm_bridge_paused{region=\"eu\"} 1"));
  EXPECT_THAT(metrics_.Render(), HasSubstr("cdnwarm_bridge_pauses_total{region=\"eu\"} 1"));

  ASSERT_TRUE(region.AddSubscriber("w1", 100, absl::Seconds(60), "", &sink_).ok());
  ASSERT_TRUE(sink_.AwaitCount(kTasks)) << "reading resumed";
  EXPECT_EQ(TaskIds(sink_.Got()).size(), static_cast<size_t>(kTasks));
  EXPECT_TRUE(Eventually([&] { return !consumer->Partitions()[0].paused(); }));
  EXPECT_THAT(metrics_.Render(), HasSubstr("cdnwarm_bridge_paused{region=\"eu\"} 0"));
  AckAll(region, sink_.Got());
  EXPECT_TRUE(Eventually([&] { return BrokerCommitted()[0] == kTasks; }));
  EXPECT_EQ(sink_.Got().size(), static_cast<size_t>(kTasks)) << "nothing was read twice";
}

TEST_F(RegionConsumerTest, PartitionsAreSharedWithAnotherMemberAndComeBackWhenItLeaves) {
  CreateTopic(3);
  FakeSink sink1;  // outlives both consumers, which may dispatch to it
  Region region(EuRegion(), results_);
  std::unique_ptr<RegionConsumer> first = Start(Options("earliest"), region);
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(Eventually([&] { return first->Partitions().size() == 3; }));

  FakeResults results2;
  Region region2(EuRegion(), results2);
  std::unique_ptr<RegionConsumer> second = Start(Options("earliest"), region2);
  ASSERT_NE(second, nullptr);
  std::vector<int32_t> held1, held2;
  ASSERT_TRUE(Eventually([&] {
    held1 = PartitionNumbers(first->Partitions());
    held2 = PartitionNumbers(second->Partitions());
    std::set<int32_t> all(held1.begin(), held1.end());
    all.insert(held2.begin(), held2.end());
    return !held1.empty() && !held2.empty() && held1.size() + held2.size() == 3 && all.size() == 3;
  })) << "each member holds some, none holds one twice";

  // The tasks of each partition go to the region of the member holding it.
  constexpr int kTasks = 30;
  ProduceTasks(kTasks);
  absl::StatusOr<std::vector<testing::Record>> records = testing::ReadTopic(topic_);
  ASSERT_TRUE(records.ok()) << records.status();
  std::map<std::string, int32_t> partition_of;  // URL -> partition
  for (const auto& r : *records) partition_of[r.key] = r.partition;
  ASSERT_TRUE(region.AddSubscriber("w1", 100, absl::Seconds(60), "", &sink1).ok());
  ASSERT_TRUE(region2.AddSubscriber("w2", 100, absl::Seconds(60), "", &sink_).ok());
  ASSERT_TRUE(Eventually([&] { return sink1.Got().size() + sink_.Got().size() == kTasks; }));
  for (const auto& [sink, held] : {std::pair{&sink1, held1}, std::pair{&sink_, held2}}) {
    for (const auto& d : sink->Got()) {
      EXPECT_THAT(held, ::testing::Contains(partition_of.at(d.task().url())))
          << d.task().task_id() << " went to the member that does not hold its partition";
    }
  }

  second.reset();  // leaves the group
  EXPECT_TRUE(Eventually([&] { return first->Partitions().size() == 3; }))
      << "the partitions of a member that left come back";
}

TEST_F(RegionConsumerTest, SeekMovesThePartitionsCommitsThereAndTheRegionReadsFromThere) {
  CreateTopic(1);
  ProduceTasks(5);
  Region region(EuRegion(), results_);
  ASSERT_TRUE(region.AddSubscriber("w1", 100, absl::Seconds(60), "", &sink_).ok());
  std::unique_ptr<RegionConsumer> consumer = Start(Options("earliest"), region);
  ASSERT_NE(consumer, nullptr);
  ASSERT_TRUE(sink_.AwaitCount(5));
  AckAll(region, sink_.Got());
  ASSERT_TRUE(Eventually([&] { return BrokerCommitted()[0] == 5; }));

  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  cdnwarm::v1::SeekReport report =
      consumer->Seek(SeekTo([](auto& r) { r.set_earliest(true); }), deadline);
  EXPECT_EQ(report.error(), "");
  EXPECT_EQ(report.not_moved_size(), 0);
  ASSERT_EQ(report.moved_size(), 1);
  EXPECT_EQ(report.moved(0).partition(), 0);
  EXPECT_EQ(report.moved(0).committed_offset(), 0);
  EXPECT_EQ(BrokerCommitted()[0], 0) << "the new position is committed before the answer";
  ASSERT_TRUE(sink_.AwaitCount(10)) << "the region reads the backlog again";
  const std::vector<cdnwarm::v1::Delivery> all = sink_.Got();
  EXPECT_EQ(TaskIds({all.begin() + 5, all.end()}), TaskIds({all.begin(), all.begin() + 5}));

  report = consumer->Seek(SeekTo([](auto& r) { r.set_latest(true); }), deadline);
  EXPECT_EQ(report.error(), "");
  ASSERT_EQ(report.moved_size(), 1);
  EXPECT_EQ(report.moved(0).committed_offset(), 5);
  EXPECT_EQ(BrokerCommitted()[0], 5);
}

TEST_F(RegionConsumerTest, SeekToATimeStartsAtTheFirstRecordAtOrAfterIt) {
  CreateTopic(1);
  const absl::Time now = absl::Now();
  ProduceAt(now - absl::Minutes(10), 0, 3);  // offsets 0..2
  ProduceAt(now, 3, 2);                      // offsets 3..4
  Region region(EuRegion(), results_);
  std::unique_ptr<RegionConsumer> consumer = Start(Options("latest"), region);
  ASSERT_NE(consumer, nullptr);
  ASSERT_TRUE(Eventually([&] { return consumer->assigned_any(); }));
  const absl::Time deadline = absl::Now() + absl::Seconds(60);

  cdnwarm::v1::SeekReport report =
      consumer->Seek(SeekTo([&](auto& r) {
                       *r.mutable_timestamp() = common::ToProtoTimestamp(now - absl::Minutes(5));
                     }),
                     deadline);
  EXPECT_EQ(report.error(), "");
  ASSERT_EQ(report.moved_size(), 1);
  EXPECT_EQ(report.moved(0).committed_offset(), 3);

  report = consumer->Seek(SeekTo([&](auto& r) {
                            *r.mutable_timestamp() =
                                common::ToProtoTimestamp(now - absl::Minutes(20));
                          }),
                          deadline);
  ASSERT_EQ(report.moved_size(), 1);
  EXPECT_EQ(report.moved(0).committed_offset(), 0);

  // Nothing that new: the log end.
  report = consumer->Seek(SeekTo([&](auto& r) {
                            *r.mutable_timestamp() = common::ToProtoTimestamp(now + absl::Hours(1));
                          }),
                          deadline);
  ASSERT_EQ(report.moved_size(), 1);
  EXPECT_EQ(report.moved(0).committed_offset(), 5);
  EXPECT_EQ(BrokerCommitted()[0], 5);
}

TEST_F(RegionConsumerTest, AMemberThatHoldsNoPartitionMovesNothingAndSaysNothingFailed) {
  CreateTopic(1);
  Region region(EuRegion(), results_);
  std::unique_ptr<RegionConsumer> holder = Start(Options("earliest"), region);
  ASSERT_NE(holder, nullptr);
  ASSERT_TRUE(Eventually([&] { return holder->assigned_any(); }));
  FakeResults results2;
  Region region2(EuRegion(), results2);
  std::unique_ptr<RegionConsumer> idle = Start(Options("earliest"), region2);
  ASSERT_NE(idle, nullptr);

  const cdnwarm::v1::SeekReport report =
      idle->Seek(SeekTo([](auto& r) { r.set_latest(true); }), absl::Now() + absl::Seconds(60));
  EXPECT_EQ(report.moved_size(), 0);
  EXPECT_EQ(report.not_moved_size(), 0);
  EXPECT_EQ(report.error(), "");
  EXPECT_FALSE(idle->assigned_any()) << "the sticky assignment kept the one partition";
}

TEST_F(RegionConsumerTest, ASeekNotAnsweredByItsDeadlineReportsEveryHeldPartitionNotMoved) {
  CreateTopic(2);
  Region region(EuRegion(), results_);
  std::unique_ptr<RegionConsumer> consumer = Start(Options("earliest"), region);
  ASSERT_NE(consumer, nullptr);
  ASSERT_TRUE(Eventually([&] { return consumer->Partitions().size() == 2; }));
  const cdnwarm::v1::SeekReport report =
      consumer->Seek(SeekTo([](auto& r) { r.set_latest(true); }), absl::Now() - absl::Seconds(1));
  EXPECT_EQ(report.moved_size(), 0);
  EXPECT_THAT(report.not_moved(), ::testing::UnorderedElementsAre(0, 1));
  // Whether or not the consumer thread took it in the moment the wait released the lock.
  EXPECT_THAT(report.error(),
              ::testing::AnyOf("the consumer did not take the seek in time; nothing was moved",
                               "the seek did not finish in time; its partitions may move later"));
}

}  // namespace
}  // namespace cdnwarm::bridge
