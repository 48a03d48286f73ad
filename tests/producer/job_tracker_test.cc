#include "producer/job_tracker.h"

#include <map>
#include <string>
#include <vector>

#include "common/core/proto_time.h"
#include "gtest/gtest.h"
#include "producer/task_factory.h"

namespace cdnwarm::producer {
namespace {

cdnwarm::v1::WarmResult Result(const std::string& job, uint32_t index, const std::string& region,
                               cdnwarm::v1::Outcome outcome) {
  cdnwarm::v1::WarmResult r;
  r.set_task_id(TaskId(job, index));
  r.set_job_id(job);
  r.set_region(region);
  r.set_outcome(outcome);
  return r;
}

const cdnwarm::v1::RegionProgress& Region(const cdnwarm::v1::Job& job, const std::string& name) {
  for (const auto& r : job.regions()) {
    if (r.region() == name) return r;
  }
  static cdnwarm::v1::RegionProgress none;
  ADD_FAILURE() << "no region " << name;
  return none;
}

TEST(JobTrackerTest, CountsEveryOutcomePerRegionAndIgnoresDuplicates) {
  JobTracker t({.regions = {"eu", "us"}});
  const absl::Time now = absl::Now();
  for (uint32_t i = 0; i < 4; ++i) t.OnTask("j1", i, now);
  t.OnTask("j1", 2, now);  // read again from Kafka: counts once
  t.OnResult(Result("j1", 0, "eu", cdnwarm::v1::OUTCOME_WARMED));
  t.OnResult(Result("j1", 0, "eu", cdnwarm::v1::OUTCOME_FAILED));  // redelivery duplicate
  t.OnResult(Result("j1", 1, "eu", cdnwarm::v1::OUTCOME_FAILED));
  t.OnResult(Result("j1", 2, "eu", cdnwarm::v1::OUTCOME_COALESCED));
  t.OnResult(Result("j1", 3, "eu", cdnwarm::v1::OUTCOME_UNVERIFIED));
  t.OnResult(Result("j1", 0, "us", cdnwarm::v1::OUTCOME_EXPIRED));

  absl::StatusOr<cdnwarm::v1::Job> job = t.Get("j1");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->total_tasks(), 4u);
  ASSERT_EQ(job->regions_size(), 2);
  EXPECT_EQ(Region(*job, "eu").warmed(), 1u);
  EXPECT_EQ(Region(*job, "eu").failed(), 1u);
  EXPECT_EQ(Region(*job, "eu").coalesced(), 1u);
  EXPECT_EQ(Region(*job, "eu").unverified(), 1u);
  EXPECT_EQ(Region(*job, "eu").pending(), 0u);
  EXPECT_TRUE(Region(*job, "eu").done());
  EXPECT_EQ(Region(*job, "us").expired(), 1u);
  EXPECT_EQ(Region(*job, "us").pending(), 3u);
  EXPECT_FALSE(job->done());

  t.OnResult(Result("j1", 1, "us", cdnwarm::v1::OUTCOME_SKIPPED));
  t.OnResult(Result("j1", 2, "us", cdnwarm::v1::OUTCOME_WARMED));
  t.OnResult(Result("j1", 3, "us", cdnwarm::v1::OUTCOME_WARMED));
  job = t.Get("j1");
  EXPECT_EQ(Region(*job, "us").skipped(), 1u);
  EXPECT_TRUE(job->done());
}

TEST(JobTrackerTest, ResultsBeforeTheirTaskAreHeldNotCounted) {
  JobTracker t({.regions = {"eu"}});
  t.OnResult(Result("j2", 1, "eu", cdnwarm::v1::OUTCOME_WARMED));
  EXPECT_EQ(t.Get("j2").status().code(), absl::StatusCode::kNotFound);
  t.OnTask("j2", 0, absl::Now());
  absl::StatusOr<cdnwarm::v1::Job> job = t.Get("j2");
  EXPECT_EQ(Region(*job, "eu").pending(), 1u);
  t.OnTask("j2", 1, absl::Now());
  job = t.Get("j2");
  EXPECT_EQ(Region(*job, "eu").warmed(), 1u);
  EXPECT_EQ(Region(*job, "eu").pending(), 1u);
}

TEST(JobTrackerTest, UnconfiguredRegionsAppearWithTheirFirstResult) {
  JobTracker t({});
  t.OnTask("j3", 0, absl::Now());
  EXPECT_FALSE(t.Get("j3")->done()) << "no region has reported yet";
  t.OnResult(Result("j3", 0, "ap", cdnwarm::v1::OUTCOME_WARMED));
  EXPECT_TRUE(t.Get("j3")->done());
}

TEST(JobTrackerTest, EvictsOldestBeyondMaxJobsAndOutsideWindow) {
  JobTracker t({.regions = {"eu"}, .window = absl::Hours(1), .max_jobs = 2});
  const absl::Time now = absl::Now();
  t.OnTask("old", 0, now - absl::Hours(2));
  t.OnTask("a", 0, now);
  t.OnTask("b", 0, now);
  EXPECT_EQ(t.Get("old").status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(t.Get("old").status().message()).find("evicted"), std::string::npos);
  EXPECT_TRUE(t.Get("a").ok());
  EXPECT_TRUE(t.Get("b").ok());

  JobTracker w({.regions = {"eu"}, .window = absl::Hours(1)});
  w.OnTask("stale", 0, now - absl::Hours(2));
  w.OnTask("fresh", 0, now);
  w.Expire(now);
  EXPECT_EQ(w.Get("stale").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(w.Get("fresh").ok());
}

// The jobs list: newest first, page after page, each job once; a token whose job was
// evicted is refused naming page_token.
TEST(JobTrackerTest, ListsJobsNewestFirstInPages) {
  JobTracker t({.regions = {"eu"}, .max_jobs = 4});
  const absl::Time now = absl::Now();
  for (const char* id : {"j1", "j2", "j3", "j4"}) t.OnTask(id, 0, now);
  t.OnTask("j2", 1, now);  // a later task does not move a job
  auto ids = [](const std::vector<cdnwarm::v1::Job>& jobs) {
    std::vector<std::string> out;
    for (const auto& j : jobs) out.push_back(j.job_id());
    return out;
  };
  bool more = false;
  auto first = t.List("", 3, &more);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(ids(*first), (std::vector<std::string>{"j4", "j3", "j2"}));
  EXPECT_TRUE(more);
  EXPECT_EQ((*first)[2].total_tasks(), 2u) << "each job as GetJob shows it";
  auto second = t.List("j2", 3, &more);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(ids(*second), (std::vector<std::string>{"j1"}));
  EXPECT_FALSE(more);
  auto exact = t.List("", 4, &more);
  EXPECT_EQ(exact->size(), 4u);
  EXPECT_FALSE(more) << "no empty page after the last";

  t.OnTask("j5", 0, now);  // evicts j1
  auto gone = t.List("j1", 3, &more);
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(gone.status().message()).find("page_token: job \"j1\""), std::string::npos);
  EXPECT_EQ(ids(*t.List("", 10, &more)), (std::vector<std::string>{"j5", "j4", "j3", "j2"}));
}

TEST(JobTrackerTest, WatchersHearChangesOfTheirJobOnly) {
  JobTracker t({.regions = {"eu"}});
  int calls = 0;
  const uint64_t h = t.Watch("w", [&] { ++calls; });
  t.OnTask("w", 0, absl::Now());
  t.OnTask("other", 0, absl::Now());
  t.OnResult(Result("w", 0, "eu", cdnwarm::v1::OUTCOME_WARMED));
  t.OnResult(Result("w", 0, "eu", cdnwarm::v1::OUTCOME_WARMED));  // duplicate: no change
  EXPECT_EQ(calls, 2);
  t.Unwatch(h);
  t.OnTask("w", 1, absl::Now());
  EXPECT_EQ(calls, 2);
}

TEST(JobTrackerTest, RecordsTogetherCountAsOneByOneAndTellEachChangedJobOnce) {
  const absl::Time now = absl::Now();
  std::vector<JobTracker::TaskRecord> tasks;
  for (uint32_t i = 0; i < 3; ++i) tasks.push_back({"a", i, now});
  tasks.push_back({"b", 0, now});
  tasks.push_back({"a", 1, now});  // read again: counts once
  tasks.push_back({"a", 3, now});  // a's again after b's
  std::vector<cdnwarm::v1::WarmResult> results = {
      Result("a", 0, "eu", cdnwarm::v1::OUTCOME_WARMED),
      Result("a", 0, "eu", cdnwarm::v1::OUTCOME_FAILED),  // duplicate: the first counts
      Result("b", 0, "eu", cdnwarm::v1::OUTCOME_FAILED),
      Result("c", 7, "eu", cdnwarm::v1::OUTCOME_WARMED),  // before its task: held
  };
  cdnwarm::v1::WarmResult note;  // the producer's note for c
  note.set_job_id("c");
  note.mutable_truncated()->set_kept(9);
  results.push_back(note);
  for (auto& r : results) *r.mutable_finished_at() = common::ToProtoTimestamp(now);

  JobTracker together({.regions = {"eu"}});
  JobTracker one_by_one({.regions = {"eu"}});
  std::map<std::string, int> calls;
  for (const char* job : {"a", "b", "c", "d"}) {
    together.Watch(job, [&calls, job] { ++calls[job]; });
  }
  together.OnRecords(tasks, results);
  for (const auto& t : tasks) one_by_one.OnTask(t.job_id, t.index, t.enqueued_at);
  for (const auto& r : results) one_by_one.OnResult(r);

  EXPECT_EQ(calls, (std::map<std::string, int>{{"a", 1}, {"b", 1}, {"c", 1}}));
  for (const char* job : {"a", "b"}) {
    absl::StatusOr<cdnwarm::v1::Job> got = together.Get(job);
    absl::StatusOr<cdnwarm::v1::Job> want = one_by_one.Get(job);
    ASSERT_TRUE(got.ok() && want.ok()) << job;
    EXPECT_EQ(got->SerializeAsString(), want->SerializeAsString()) << job;
  }
  absl::StatusOr<cdnwarm::v1::Job> a = together.Get("a");
  EXPECT_EQ(a->total_tasks(), 4u);
  EXPECT_EQ(Region(*a, "eu").warmed(), 1u);
  EXPECT_EQ(Region(*a, "eu").pending(), 3u);
  EXPECT_EQ(together.Get("c").status().code(), absl::StatusCode::kNotFound);  // no task yet
  together.OnRecords({{"c", 7, now}}, {});
  absl::StatusOr<cdnwarm::v1::Job> c = together.Get("c");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(Region(*c, "eu").warmed(), 1u);
  EXPECT_TRUE(c->has_truncated());
  EXPECT_EQ(calls["c"], 2);
}

}  // namespace
}  // namespace cdnwarm::producer
