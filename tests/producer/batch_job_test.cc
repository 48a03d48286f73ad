// BatchJob: entries validated and published one by one, rejections kept by index, the
// reply only once every record is settled, and back-pressure on records in flight.

#include "producer/batch_job.h"

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "common/fetch/ssrf_guard.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "producer/intake.h"
#include "producer/job_tracker.h"
#include "producer/task_factory.h"
#include "producer/task_publisher.h"

namespace cdnwarm::producer {
namespace {

using ::testing::HasSubstr;

// Holds every record's answer until the test gives it.
class HeldPublisher final : public TaskPublisher {
 public:
  void Publish(const cdnwarm::v1::WarmTask& task, Lane lane, absl::Time,
               PublishCallback done) override {
    tasks.push_back(task);
    lanes.push_back(lane);
    answers.push_back(std::move(done));
  }
  void PublishNote(const cdnwarm::v1::WarmResult&, absl::Time, PublishCallback done) override {
    done(absl::UnimplementedError("no notes here"));
  }
  absl::Status Flush(absl::Duration) override { return absl::OkStatus(); }
  void Answer(size_t i, absl::StatusOr<Published> p) { std::exchange(answers[i], nullptr)(p); }

  std::vector<cdnwarm::v1::WarmTask> tasks;
  std::vector<Lane> lanes;
  std::vector<PublishCallback> answers;
};

class BatchJobTest : public ::testing::Test {
 protected:
  std::shared_ptr<BatchJob> NewJob() {
    return std::make_shared<BatchJob>(intake_, "job-1", absl::Now() + absl::Seconds(30));
  }
  TaskTemplate Options() { return *ValidateOptions(cdnwarm::v1::TaskOptions(), {}); }

  common::FetchGuard guard_;
  HeldPublisher publisher_;
  JobTracker tracker_{JobTrackerOptions{}};
  Intake intake_{guard_, publisher_, tracker_};
};

TEST_F(BatchJobTest, RepliesOnceEveryRecordIsSettledWithRejectionsByIndex) {
  auto job = NewJob();
  job->Add("https://example.com/a", Options());
  job->Add("ftp://example.com/b", Options());
  job->Reject("https://example.com/c", "options: bad ttl");
  job->Add("https://Example.COM/d/../e", Options());
  ASSERT_EQ(publisher_.tasks.size(), 2u);
  EXPECT_EQ(publisher_.tasks[0].task_id(), "job-1/0");
  EXPECT_EQ(publisher_.tasks[1].task_id(), "job-1/3");
  EXPECT_EQ(publisher_.tasks[1].url(), "https://example.com/e") << "published canonical";
  EXPECT_THAT(publisher_.lanes, ::testing::Each(Lane::kBulk)) << "a batch lingers for its batch";
  EXPECT_EQ(job->outstanding(), 2u);

  std::optional<std::pair<absl::Status, cdnwarm::v1::WarmBatchReply>> done;
  job->Close([&](absl::Status s, cdnwarm::v1::WarmBatchReply r) { done.emplace(s, r); });
  EXPECT_FALSE(done) << "two records still wait for the broker";
  publisher_.Answer(1, Published{2, 7});
  EXPECT_FALSE(done);
  publisher_.Answer(0, absl::UnavailableError("broker down"));
  ASSERT_TRUE(done);
  EXPECT_TRUE(done->first.ok()) << "one entry was accepted, so the job stands";
  const cdnwarm::v1::WarmBatchReply& r = done->second;
  EXPECT_EQ(r.accepted(), 1u);
  ASSERT_EQ(r.rejected_size(), 3);
  std::map<uint32_t, std::string> reasons;
  for (const auto& x : r.rejected()) reasons[x.index()] = x.reason();
  EXPECT_THAT(reasons[0], HasSubstr("kafka: broker down"));
  EXPECT_THAT(reasons[1], HasSubstr("scheme"));
  EXPECT_EQ(reasons[2], "options: bad ttl");
}

TEST_F(BatchJobTest, AJobWhoseEveryRecordFailedIsUnavailable) {
  auto job = NewJob();
  job->Add("https://example.com/a", Options());
  std::optional<absl::Status> done;
  job->Close([&](absl::Status s, cdnwarm::v1::WarmBatchReply) { done = s; });
  publisher_.Answer(0, absl::UnavailableError("no leader"));
  ASSERT_TRUE(done);
  EXPECT_EQ(done->code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(done->message(), HasSubstr("no leader"));
}

TEST_F(BatchJobTest, OnBelowResumesOnlyWhenTheRecordsInFlightDropBelowTheLimit) {
  auto job = NewJob();
  for (int i = 0; i < 3; ++i) job->Add("https://example.com/" + std::to_string(i), Options());
  int resumed = 0;
  job->OnBelow(2, [&] { ++resumed; });
  EXPECT_EQ(resumed, 0) << "3 in flight, limit 2";
  publisher_.Answer(0, Published{0, 0});
  EXPECT_EQ(resumed, 0) << "2 in flight is not below 2";
  publisher_.Answer(1, Published{0, 1});
  EXPECT_EQ(resumed, 1);
  publisher_.Answer(2, Published{0, 2});
  EXPECT_EQ(resumed, 1) << "once";
  job->OnBelow(2, [&] { ++resumed; });
  EXPECT_EQ(resumed, 2) << "already below: at once";
}

}  // namespace
}  // namespace cdnwarm::producer
