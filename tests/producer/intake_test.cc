// Intake: the one path of a URL into Kafka. Canonical form, host policy, the task built,
// and the job counting the task only once the broker took it.

#include "producer/intake.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "common/fetch/ssrf_guard.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "producer/job_tracker.h"
#include "producer/task_factory.h"
#include "producer/task_publisher.h"

namespace cdnwarm::producer {
namespace {

using ::testing::HasSubstr;

class RecordingPublisher final : public TaskPublisher {
 public:
  void Publish(const cdnwarm::v1::WarmTask& task, Lane lane, absl::Time,
               PublishCallback done) override {
    tasks.push_back(task);
    lanes.push_back(lane);
    done(answer);
  }
  void PublishNote(const cdnwarm::v1::WarmResult& note, absl::Time, PublishCallback done) override {
    notes.push_back(note);
    done(answer);
  }
  absl::Status Flush(absl::Duration) override { return absl::OkStatus(); }

  absl::StatusOr<Published> answer = Published{3, 41};
  std::vector<cdnwarm::v1::WarmTask> tasks;
  std::vector<Lane> lanes;
  std::vector<cdnwarm::v1::WarmResult> notes;
};

class IntakeTest : public ::testing::Test {
 protected:
  IntakeTest() { guard_.hosts = *common::HostAllowList::Parse({"example.com", "*.cdn.test"}); }
  common::FetchGuard guard_;
  RecordingPublisher publisher_;
  JobTracker tracker_{JobTrackerOptions{}};
  Intake intake_{guard_, publisher_, tracker_};
};

TEST_F(IntakeTest, ValidateCanonicalisesAndAppliesTheHostPolicy) {
  absl::StatusOr<common::CanonicalUrl> u = intake_.Validate("HTTPS://Example.COM:443/a/./b");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->url, "https://example.com/a/b");
  EXPECT_TRUE(intake_.Validate("https://img.cdn.test/x").ok());

  const absl::Status other = intake_.Validate("https://evil.test/", "urls[3]").status();
  EXPECT_EQ(other.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(other.message(), HasSubstr("urls[3]"));
  EXPECT_EQ(intake_.Validate("ftp://example.com/").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(IntakeTest, LoopbackNamesAndPrivateLiteralsAreRefusedBeforeKafka) {
  guard_.hosts = common::HostAllowList();  // any host
  EXPECT_THAT(intake_.Validate("http://localhost/").status().message(), HasSubstr("RFC 6761"));
  EXPECT_THAT(intake_.Validate("http://a.localhost./").status().message(), HasSubstr("loopback"));
  EXPECT_EQ(intake_.Validate("http://10.1.2.3/").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(intake_.Validate("http://[::1]/").status().code(), absl::StatusCode::kPermissionDenied);
  // The other ways to write an address, which canonicalise to one: number forms of IPv4, a
  // trailing dot, an IPv4-mapped IPv6 address.
  for (const char* literal : {"http://0x7f.1/", "http://2130706433/", "http://10.1.2.3./",
                              "http://[::ffff:10.0.0.1]/", "http://0300.0250.0.1/"}) {
    EXPECT_EQ(intake_.Validate(literal).status().code(), absl::StatusCode::kPermissionDenied)
        << literal;
  }
  EXPECT_TRUE(intake_.Validate("http://93.184.216.34/").ok()) << "a public literal";
  EXPECT_TRUE(intake_.Validate("http://1.example/").ok()) << "a name with a numeric label";
  EXPECT_TRUE(publisher_.tasks.empty());
}

TEST_F(IntakeTest, TheJobCountsATaskOnlyOnceKafkaTookIt) {
  const TaskTemplate options = *ValidateOptions(cdnwarm::v1::TaskOptions(), {});
  const common::CanonicalUrl url = *intake_.Validate("https://example.com/a");
  absl::StatusOr<Published> got;
  intake_.Enqueue("job-1", 7, url, options, Lane::kBulk, absl::Now() + absl::Seconds(5),
                  [&](absl::StatusOr<Published> p) { got = std::move(p); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->offset, 41);
  ASSERT_EQ(publisher_.tasks.size(), 1u);
  EXPECT_EQ(publisher_.tasks[0].task_id(), "job-1/7");
  EXPECT_EQ(publisher_.tasks[0].url(), "https://example.com/a");
  EXPECT_EQ(publisher_.lanes[0], Lane::kBulk);
  EXPECT_TRUE(tracker_.Get("job-1").ok()) << "counted once the broker acknowledged it";

  publisher_.answer = absl::UnavailableError("no broker");
  intake_.Enqueue("job-2", 0, url, options, Lane::kInteractive, absl::Now() + absl::Seconds(5),
                  [&](absl::StatusOr<Published> p) { got = std::move(p); });
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(publisher_.lanes[1], Lane::kInteractive);
  EXPECT_FALSE(tracker_.Get("job-2").ok()) << "a task Kafka never took is no job's";
}

}  // namespace
}  // namespace cdnwarm::producer
