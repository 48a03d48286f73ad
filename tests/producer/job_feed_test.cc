// JobFeed against the real broker the `kafka` CTest fixture starts: job progress rebuilt from
// both topics and kept up to date, records older than the window skipped, unparsable records
// counted, and a missing topic named.

#include "producer/job_feed.h"

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/core/proto_time.h"
#include "common/core/sync.h"
#include "common/kafka/kafka_admin.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "producer/task_factory.h"
#include "tests/support/kafka_test_client.h"

namespace cdnwarm::producer {
namespace {

using ::testing::HasSubstr;

struct Timed {
  std::string key;
  std::string value;
  absl::Time at;
};

// Produces records with the given record timestamps and waits for the broker.
void Produce(const std::string& topic, const std::vector<Timed>& records) {
  common::KafkaProperties props = cdnwarm::testing::TestKafka();
  props.Set("acks", "all");
  absl::StatusOr<common::KafkaConfPtr> conf = props.ToConf();
  ASSERT_TRUE(conf.ok()) << conf.status();
  int failed = 0;
  rd_kafka_conf_set_dr_msg_cb(conf->get(), [](rd_kafka_t*, const rd_kafka_message_t* m, void* o) {
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) ++*static_cast<int*>(o);
  });
  rd_kafka_conf_set_opaque(conf->get(), &failed);
  char err[512] = {};
  common::KafkaPtr rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), err, sizeof(err)));
  ASSERT_TRUE(rk) << err;
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
    ASSERT_EQ(e, nullptr) << rd_kafka_error_string(e.get());
  }
  ASSERT_EQ(rd_kafka_flush(rk.get(), 60000), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(failed, 0);
}

std::string Task(const std::string& job, uint32_t index, absl::Time at) {
  cdnwarm::v1::WarmTask task;
  task.set_task_id(TaskId(job, index));
  task.set_job_id(job);
  task.set_url(absl::StrCat("https://example.com/", index));
  *task.mutable_enqueued_at() = common::ToProtoTimestamp(at);
  return task.SerializeAsString();
}

std::string Result(const std::string& job, uint32_t index, const std::string& region,
                   cdnwarm::v1::Outcome outcome) {
  cdnwarm::v1::WarmResult result;
  result.set_task_id(TaskId(job, index));
  result.set_job_id(job);
  result.set_region(region);
  result.set_outcome(outcome);
  return result.SerializeAsString();
}

const cdnwarm::v1::RegionProgress* Region(const cdnwarm::v1::Job& job, const std::string& name) {
  for (const auto& r : job.regions()) {
    if (r.region() == name) return &r;
  }
  return nullptr;
}

// Wakes on every change the tracker reports for the watched jobs.
class Changes {
 public:
  Changes(JobTracker& tracker, const std::vector<std::string>& jobs) : tracker_(tracker) {
    for (const std::string& job : jobs) {
      handles_.push_back(tracker.Watch(job, [this] {
        common::MutexLock lock(&mu_);
        ++changes_;
        cv_.SignalAll();
      }));
    }
  }
  ~Changes() {
    for (uint64_t h : handles_) tracker_.Unwatch(h);
  }
  // True once `done` holds, false when 60 s pass first.
  bool WaitFor(const std::function<bool()>& done) {
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (true) {
      uint64_t seen = 0;
      {
        common::MutexLock lock(&mu_);
        seen = changes_;
      }
      if (done()) return true;
      bool timed_out = false;
      {
        common::MutexLock lock(&mu_);
        while (changes_ == seen && !timed_out) timed_out = cv_.WaitWithDeadline(&mu_, deadline);
      }
      if (timed_out) return done();
    }
  }

 private:
  JobTracker& tracker_;
  std::vector<uint64_t> handles_;
  common::Mutex mu_;
  common::CondVar cv_;
  uint64_t changes_ ABSL_GUARDED_BY(mu_) = 0;
};

class JobFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string base = absl::StrCat("cdnwarm.it.jobfeed.", absl::ToUnixMicros(absl::Now()));
    options_.kafka = cdnwarm::testing::TestKafka();
    options_.requests_topic = base + ".requests";
    options_.results_topic = base + ".results";
    options_.window = absl::Hours(1);
    // One partition each: a record's successors show it has been read.
    const absl::Status s = common::EnsureTopics(options_.kafka,
                                                {{.name = options_.requests_topic, .partitions = 1},
                                                 {.name = options_.results_topic, .partitions = 1}},
                                                absl::Seconds(30));
    ASSERT_TRUE(s.ok()) << s;
  }

  JobFeedOptions options_;
  JobTracker tracker_{JobTrackerOptions{}};
  metrics::Registry registry_;
};

TEST_F(JobFeedTest, ProgressIsRebuiltFromBothTopicsAndFollowsNewRecords) {
  const absl::Time now = absl::Now();
  ASSERT_NO_FATAL_FAILURE(Produce(options_.requests_topic, {{"k", Task("jobA", 0, now), now},
                                                            {"k", Task("jobA", 1, now), now}}));
  ASSERT_NO_FATAL_FAILURE(
      Produce(options_.results_topic,
              {{"jobA", Result("jobA", 0, "us-east", cdnwarm::v1::OUTCOME_WARMED), now}}));

  Changes changes(tracker_, {"jobA"});
  absl::StatusOr<std::unique_ptr<JobFeed>> feed = JobFeed::Start(options_, tracker_, registry_);
  ASSERT_TRUE(feed.ok()) << feed.status();
  const auto region_is = [&](const std::string& region, uint64_t warmed, uint64_t failed) {
    absl::StatusOr<cdnwarm::v1::Job> job = tracker_.Get("jobA");
    if (!job.ok() || job->total_tasks() != 2) return false;
    const cdnwarm::v1::RegionProgress* r = Region(*job, region);
    return r != nullptr && r->warmed() == warmed && r->failed() == failed;
  };
  ASSERT_TRUE(changes.WaitFor([&] { return region_is("us-east", 1, 0); }))
      << "jobA's history was not read within 60s";
  EXPECT_FALSE(tracker_.Get("jobA")->done());

  // A result recorded while the feed runs.
  ASSERT_NO_FATAL_FAILURE(
      Produce(options_.results_topic,
              {{"jobA", Result("jobA", 1, "us-east", cdnwarm::v1::OUTCOME_FAILED), absl::Now()}}));
  ASSERT_TRUE(changes.WaitFor([&] { return region_is("us-east", 1, 1); }))
      << "the new result was not read within 60s";
  EXPECT_TRUE(tracker_.Get("jobA")->done());
}

TEST_F(JobFeedTest, ARecordWrittenRightAfterStartOnEmptyTopicsIsRead) {
  // Empty topics: every partition starts at its end. The end is measured by Start, so a
  // record written at once is read (a logical "end" resolved later would skip it; that lost
  // a record in some runs before).
  Changes changes(tracker_, {"jobE"});
  absl::StatusOr<std::unique_ptr<JobFeed>> feed = JobFeed::Start(options_, tracker_, registry_);
  ASSERT_TRUE(feed.ok()) << feed.status();
  const absl::Time now = absl::Now();
  ASSERT_NO_FATAL_FAILURE(Produce(options_.requests_topic, {{"k", Task("jobE", 0, now), now}}));
  ASSERT_TRUE(changes.WaitFor([&] { return tracker_.Get("jobE").ok(); }))
      << "a task written right after Start was not read within 60s";
}

TEST_F(JobFeedTest, RecordsOlderThanTheWindowAreNotRead) {
  const absl::Time now = absl::Now();
  const absl::Time old = now - absl::Hours(2);
  ASSERT_NO_FATAL_FAILURE(Produce(
      options_.requests_topic, {{"k", Task("old", 0, old), old}, {"k", Task("new", 0, now), now}}));
  ASSERT_NO_FATAL_FAILURE(
      Produce(options_.results_topic,
              {{"new", Result("new", 0, "eu-west", cdnwarm::v1::OUTCOME_WARMED), old},
               {"new", Result("new", 0, "us-east", cdnwarm::v1::OUTCOME_WARMED), now}}));

  Changes changes(tracker_, {"new"});
  absl::StatusOr<std::unique_ptr<JobFeed>> feed = JobFeed::Start(options_, tracker_, registry_);
  ASSERT_TRUE(feed.ok()) << feed.status();
  ASSERT_TRUE(changes.WaitFor([&] {
    absl::StatusOr<cdnwarm::v1::Job> job = tracker_.Get("new");
    return job.ok() && Region(*job, "us-east") != nullptr;
  })) << "the new job and its result were not read within 60s";

  // Both old records sit before the ones read, in the same partitions.
  EXPECT_EQ(tracker_.Get("old").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Region(*tracker_.Get("new"), "eu-west"), nullptr);
}

TEST_F(JobFeedTest, UnparsableRecordsAreCountedAndSkipped) {
  const absl::Time now = absl::Now();
  cdnwarm::v1::WarmTask foreign;
  foreign.set_task_id("no-index-here");
  cdnwarm::v1::WarmTask no_id;  // no task_id, as an empty record has none either
  no_id.set_url("https://cdn.example.test/a");
  // jobC's records come last in each partition: once they are read, so is everything before.
  // The ones without a task_id come right after a good record: read in the same poll, they
  // must not be taken for it.
  ASSERT_NO_FATAL_FAILURE(Produce(options_.requests_topic, {{"k", "\xff\xff\xff", now},
                                                            {"k", foreign.SerializeAsString(), now},
                                                            {"k", Task("jobB", 0, now), now},
                                                            {"k", "", now},
                                                            {"k", no_id.SerializeAsString(), now},
                                                            {"k", Task("jobC", 0, now), now}}));
  ASSERT_NO_FATAL_FAILURE(
      Produce(options_.results_topic,
              {{"jobB", "\xff\xff\xff", now},
               {"jobB", Result("jobB", 0, "us-east", cdnwarm::v1::OUTCOME_WARMED), now},
               {"jobC", Result("jobC", 0, "us-east", cdnwarm::v1::OUTCOME_WARMED), now}}));

  Changes changes(tracker_, {"jobC"});
  absl::StatusOr<std::unique_ptr<JobFeed>> feed = JobFeed::Start(options_, tracker_, registry_);
  ASSERT_TRUE(feed.ok()) << feed.status();
  ASSERT_TRUE(changes.WaitFor([&] {
    absl::StatusOr<cdnwarm::v1::Job> job = tracker_.Get("jobC");
    return job.ok() && job->done();
  })) << "jobC was not read within 60s";
  EXPECT_TRUE(tracker_.Get("jobB")->done());
  EXPECT_EQ(tracker_.job_count(), 2u) << "the foreign task made no job";
  const std::string text = registry_.Render();
  EXPECT_THAT(text, HasSubstr("cdnwarm_producer_job_feed_records_total{result=\"unparsable\","
                              "topic=\"requests\"} 4"));
  EXPECT_GT(common::FromProtoTimestamp(tracker_.Get("jobB")->created_at()), now - absl::Hours(1))
      << "jobB's creation time came from another record";
  EXPECT_THAT(text, HasSubstr("cdnwarm_producer_job_feed_records_total{result=\"unparsable\","
                              "topic=\"results\"} 1"));
}

TEST_F(JobFeedTest, AMissingTopicIsNamed) {
  options_.results_topic += ".missing";
  // Waits out the feed's retries for a topic created a moment ago: 2 s here, 30 s in the
  // producer (JobFeedOptionsTest).
  options_.start_timeout = absl::Seconds(2);
  absl::StatusOr<std::unique_ptr<JobFeed>> feed = JobFeed::Start(options_, tracker_, registry_);
  ASSERT_FALSE(feed.ok());
  EXPECT_EQ(feed.status().code(), absl::StatusCode::kFailedPrecondition) << feed.status();
  EXPECT_THAT(std::string(feed.status().message()),
              HasSubstr(absl::StrCat("topic ", options_.results_topic, " is not available")));
}

TEST(JobFeedOptionsTest, StartWaitsThirtySecondsForATopicByDefault) {
  EXPECT_EQ(JobFeedOptions{}.start_timeout, absl::Seconds(30));
}

TEST_F(JobFeedTest, ABadKafkaPropertyIsRefusedAtStart) {
  options_.kafka.Set("no.such.setting", "1");
  absl::StatusOr<std::unique_ptr<JobFeed>> feed = JobFeed::Start(options_, tracker_, registry_);
  ASSERT_FALSE(feed.ok());
  EXPECT_THAT(std::string(feed.status().message()), HasSubstr("no.such.setting"));
}

}  // namespace
}  // namespace cdnwarm::producer
