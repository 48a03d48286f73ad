// ResultReader: the partition a job's results are written to, page tokens, and Read against
// the real broker the `kafka` CTest fixture starts (only the job's results, from its creation
// less a minute, filtered by region and outcome, a page at a time).

#include "producer/result_reader.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/kafka/kafka_admin.h"
#include "common/kafka/kafka_handles.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "producer/task_factory.h"
#include "tests/support/kafka_test_client.h"

namespace cdnwarm::producer {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct Timed {
  std::string key;
  std::string value;
  absl::Time at;
};

struct Delivered {
  int failed = 0;
  std::vector<int32_t> partitions;
};

// Produces records (keyed, with the given timestamps) as `props` say and waits for the
// broker; returns the partition of each.
std::vector<int32_t> Produce(const common::KafkaProperties& base, const std::string& topic,
                             const std::vector<Timed>& records) {
  common::KafkaProperties props = base;
  props.Set("acks", "all");
  absl::StatusOr<common::KafkaConfPtr> conf = props.ToConf();
  EXPECT_TRUE(conf.ok()) << conf.status();
  if (!conf.ok()) return {};
  Delivered delivered;
  rd_kafka_conf_set_dr_msg_cb(conf->get(), [](rd_kafka_t*, const rd_kafka_message_t* m, void* o) {
    auto* d = static_cast<Delivered*>(o);
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) ++d->failed;
    d->partitions.push_back(m->partition);
  });
  rd_kafka_conf_set_opaque(conf->get(), &delivered);
  char err[512] = {};
  common::KafkaPtr rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), err, sizeof(err)));
  EXPECT_TRUE(rk) << err;
  if (!rk) return {};
  conf->release();
  for (const Timed& r : records) {
    rd_kafka_vu_t vus[5];
    vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    vus[0].u.cstr = topic.c_str();
    vus[1].vtype = RD_KAFKA_VTYPE_KEY;
    vus[1].u.mem = {const_cast<char*>(r.key.data()), r.key.size()};
    vus[2].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[2].u.mem = {const_cast<char*>(r.value.data()), r.value.size()};
    vus[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[3].u.i = RD_KAFKA_MSG_F_COPY;
    vus[4].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
    vus[4].u.i64 = absl::ToUnixMillis(r.at);
    common::KafkaErrorPtr e(rd_kafka_produceva(rk.get(), vus, 5));
    EXPECT_EQ(e, nullptr) << rd_kafka_error_string(e.get());
    // One at a time, so the partitions come back in the records' order.
    EXPECT_EQ(rd_kafka_flush(rk.get(), 60000), RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  EXPECT_EQ(delivered.failed, 0);
  return delivered.partitions;
}

cdnwarm::v1::WarmResult Result(const std::string& job, uint32_t index, const std::string& region,
                               cdnwarm::v1::Outcome outcome) {
  cdnwarm::v1::WarmResult r;
  r.set_task_id(TaskId(job, index));
  r.set_job_id(job);
  r.set_region(region);
  r.set_outcome(outcome);
  return r;
}

std::vector<std::string> TaskIds(const cdnwarm::v1::ListResultsReply& reply) {
  std::vector<std::string> ids;
  for (const auto& r : reply.results()) ids.push_back(absl::StrCat(r.task_id(), "@", r.region()));
  return ids;
}

TEST(ResultReaderTest, PartitionOfIsWhereTheProducerWritesTheKey) {
  const std::string topic =
      absl::StrCat("cdnwarm.it.reader.part.", absl::ToUnixMicros(absl::Now()));
  ASSERT_TRUE(common::EnsureTopics(cdnwarm::testing::TestKafka(),
                                   {{.name = topic, .partitions = 7}}, absl::Seconds(30))
                  .ok());
  const std::vector<std::string> keys = {"j0", "jobs-are-keys", "j3ef0606df67718d7244b8e26", "x"};
  for (const std::string partitioner : {"", "consistent_random", "consistent", "murmur2_random",
                                        "murmur2", "fnv1a_random", "fnv1a"}) {
    common::KafkaProperties props = cdnwarm::testing::TestKafka();
    if (!partitioner.empty()) props.Set("partitioner", partitioner);
    std::vector<Timed> records;
    std::vector<int32_t> expected;
    for (const std::string& key : keys) {
      records.push_back({key, "v", absl::Now()});
      absl::StatusOr<int32_t> p = ResultReader::PartitionOf(partitioner, key, 7);
      ASSERT_TRUE(p.ok()) << p.status();
      expected.push_back(*p);
    }
    EXPECT_THAT(Produce(props, topic, records), ElementsAreArray(expected))
        << "partitioner \"" << partitioner << "\"";
  }
}

TEST(ResultReaderTest, AnUnknownPartitionerIsRefused) {
  const absl::StatusOr<int32_t> p = ResultReader::PartitionOf("random", "job", 6);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(p.status().message(), "partitioner \"random\": results cannot be found by job");
}

TEST(ResultReaderTest, TokensAreOffsetsAndOthersAreRefused) {
  EXPECT_EQ(ResultReader::Token(0), "0");
  EXPECT_EQ(ResultReader::Token(9876543210), "9876543210");
  EXPECT_EQ(ResultReader::ParseToken(ResultReader::Token(42)).value_or(-1), 42);
  for (const std::string bad : {"", "-1", "4x", "x", "99999999999999999999"}) {
    const absl::StatusOr<int64_t> t = ResultReader::ParseToken(bad);
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(t.status().message(), "page_token: not a token this producer gave") << bad;
  }
}

class ResultReaderReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    topic_ = absl::StrCat("cdnwarm.it.reader.", absl::ToUnixMicros(absl::Now()));
    job_ = absl::StrCat("job", absl::ToUnixMicros(absl::Now()));
    ASSERT_TRUE(
        common::EnsureTopics(props_, {{.name = topic_, .partitions = 3}}, absl::Seconds(30)).ok());
    // Another job whose results share the partition, so the reader must tell them apart.
    const int32_t partition = *ResultReader::PartitionOf("", job_, 3);
    for (int i = 0;; ++i) {
      other_ = absl::StrCat(job_, "-other", i);
      if (*ResultReader::PartitionOf("", other_, 3) == partition) break;
    }
    // The broker knows a topic created a moment ago once a record was delivered to it. This
    // one is from long before the job.
    Produce(props_, topic_,
            {{other_, Result(other_, 9, "setup", cdnwarm::v1::OUTCOME_WARMED).SerializeAsString(),
              created_ - absl::Hours(1)}});
  }

  cdnwarm::v1::ListResultsReply Read(ResultQuery q) {
    q.deadline = absl::Now() + absl::Seconds(30);
    absl::StatusOr<cdnwarm::v1::ListResultsReply> reply = ResultReader(props_, topic_).Read(q);
    EXPECT_TRUE(reply.ok()) << reply.status();
    return reply.ok() ? *reply : cdnwarm::v1::ListResultsReply();
  }

  ResultQuery Query() const {
    ResultQuery q;
    q.job_id = job_;
    q.created_at = created_;
    return q;
  }

  // The job's results (and others') as the bridges would write them.
  void WriteMixedResults() {
    const absl::Time now = absl::Now();
    cdnwarm::v1::WarmResult note;  // a job note: no task id
    note.set_job_id(job_);
    note.mutable_truncated()->set_found(9);
    Produce(
        props_, topic_,
        {{job_, Result(job_, 0, "us-east", cdnwarm::v1::OUTCOME_WARMED).SerializeAsString(), now},
         {other_, Result(other_, 0, "us-east", cdnwarm::v1::OUTCOME_WARMED).SerializeAsString(),
          now},
         {job_, Result(job_, 0, "eu-west", cdnwarm::v1::OUTCOME_FAILED).SerializeAsString(), now},
         {job_, "\xff\xff\xff", now},
         {job_, note.SerializeAsString(), now},
         {job_, Result(job_, 1, "us-east", cdnwarm::v1::OUTCOME_SKIPPED).SerializeAsString(), now},
         {job_, Result(job_, 1, "eu-west", cdnwarm::v1::OUTCOME_WARMED).SerializeAsString(), now},
         {job_, Result(job_, 2, "us-east", cdnwarm::v1::OUTCOME_WARMED).SerializeAsString(), now}});
  }

  const common::KafkaProperties props_ = cdnwarm::testing::TestKafka();
  const absl::Time created_ = absl::Now();
  std::string topic_;
  std::string job_;
  std::string other_;
};

TEST_F(ResultReaderReadTest, OnlyTheJobsResultsComeBackInOrder) {
  WriteMixedResults();
  const cdnwarm::v1::ListResultsReply reply = Read(Query());
  EXPECT_THAT(TaskIds(reply),
              ElementsAre(job_ + "/0@us-east", job_ + "/0@eu-west", job_ + "/1@us-east",
                          job_ + "/1@eu-west", job_ + "/2@us-east"));
  EXPECT_EQ(reply.next_page_token(), "");
}

TEST_F(ResultReaderReadTest, RegionAndOutcomeFilter) {
  WriteMixedResults();
  ResultQuery q = Query();
  q.region = "us-east";
  EXPECT_THAT(TaskIds(Read(q)),
              ElementsAre(job_ + "/0@us-east", job_ + "/1@us-east", job_ + "/2@us-east"));
  q.outcomes = {cdnwarm::v1::OUTCOME_WARMED};
  EXPECT_THAT(TaskIds(Read(q)), ElementsAre(job_ + "/0@us-east", job_ + "/2@us-east"));
  q.region = "";
  q.outcomes = {cdnwarm::v1::OUTCOME_FAILED, cdnwarm::v1::OUTCOME_SKIPPED};
  EXPECT_THAT(TaskIds(Read(q)), ElementsAre(job_ + "/0@eu-west", job_ + "/1@us-east"));
}

TEST_F(ResultReaderReadTest, PagesFollowTheTokenToTheEnd) {
  WriteMixedResults();
  ResultQuery q = Query();
  q.page_size = 2;
  std::vector<std::string> all;
  std::vector<size_t> page_sizes;
  for (int page = 0; page < 10; ++page) {
    const cdnwarm::v1::ListResultsReply reply = Read(q);
    page_sizes.push_back(static_cast<size_t>(reply.results_size()));
    for (const std::string& id : TaskIds(reply)) all.push_back(id);
    if (reply.next_page_token().empty()) break;
    absl::StatusOr<int64_t> next = ResultReader::ParseToken(reply.next_page_token());
    ASSERT_TRUE(next.ok()) << next.status();
    q.from_offset = *next;
  }
  EXPECT_THAT(all, ElementsAre(job_ + "/0@us-east", job_ + "/0@eu-west", job_ + "/1@us-east",
                               job_ + "/1@eu-west", job_ + "/2@us-east"));
  EXPECT_THAT(page_sizes, ElementsAre(2u, 2u, 1u));
}

TEST_F(ResultReaderReadTest, TheScanStartsAMinuteBeforeTheJobWasCreated) {
  Produce(
      props_, topic_,
      {{job_, Result(job_, 0, "old", cdnwarm::v1::OUTCOME_WARMED).SerializeAsString(),
        created_ - absl::Minutes(5)},
       {job_, Result(job_, 1, "skewed", cdnwarm::v1::OUTCOME_WARMED).SerializeAsString(),
        created_ - absl::Seconds(30)},
       {job_, Result(job_, 2, "new", cdnwarm::v1::OUTCOME_WARMED).SerializeAsString(), created_}});
  EXPECT_THAT(TaskIds(Read(Query())), ElementsAre(job_ + "/1@skewed", job_ + "/2@new"));
}

TEST_F(ResultReaderReadTest, AJobWithoutResultsHasAnEmptyPage) {
  const cdnwarm::v1::ListResultsReply reply = Read(Query());
  EXPECT_THAT(reply.results(), IsEmpty());
  EXPECT_EQ(reply.next_page_token(), "");

  // Only older records: nothing from the job's creation on.
  Produce(props_, topic_,
          {{job_, Result(job_, 0, "old", cdnwarm::v1::OUTCOME_WARMED).SerializeAsString(),
            created_ - absl::Hours(1)}});
  EXPECT_THAT(Read(Query()).results(), IsEmpty());
}

TEST_F(ResultReaderReadTest, TheConfiguredPartitionerFindsTheJob) {
  // A job id that murmur2 puts elsewhere than the default partitioner does.
  for (int i = 0;; ++i) {
    job_ = absl::StrCat("murmur", absl::ToUnixMicros(absl::Now()), "-", i);
    if (*ResultReader::PartitionOf("murmur2", job_, 3) != *ResultReader::PartitionOf("", job_, 3)) {
      break;
    }
  }
  common::KafkaProperties murmur = props_;
  murmur.Set("partitioner", "murmur2");
  Produce(murmur, topic_,
          {{job_, Result(job_, 0, "us-east", cdnwarm::v1::OUTCOME_WARMED).SerializeAsString(),
            absl::Now()}});
  ResultQuery q = Query();
  q.deadline = absl::Now() + absl::Seconds(30);
  absl::StatusOr<cdnwarm::v1::ListResultsReply> found = ResultReader(murmur, topic_).Read(q);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_THAT(TaskIds(*found), ElementsAre(job_ + "/0@us-east"));
  EXPECT_THAT(Read(Query()).results(), IsEmpty()) << "the default partitioner looks elsewhere";
}

TEST_F(ResultReaderReadTest, AMissingTopicOrUnknownPartitionerIsAnError) {
  ResultQuery q = Query();
  q.deadline = absl::Now() + absl::Seconds(10);
  absl::StatusOr<cdnwarm::v1::ListResultsReply> reply =
      ResultReader(props_, topic_ + ".missing").Read(q);
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kNotFound) << reply.status();

  common::KafkaProperties odd = props_;
  odd.Set("partitioner", "random");
  reply = ResultReader(odd, topic_).Read(q);
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kInvalidArgument) << reply.status();
  EXPECT_THAT(std::string(reply.status().message()), HasSubstr("partitioner \"random\""));
}

}  // namespace
}  // namespace cdnwarm::producer
