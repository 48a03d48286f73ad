// The producer's console on the real broker (the `kafka` fixture): the /v1/ JSON API is the
// producer's own gRPC service, with its bearer token and its validation, and what it
// accepts is in Kafka. The browser-driven console test is tests/e2e (console_e2e).

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cdnwarm/v1/producer.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "producer/producer_app.h"
#include "tests/support/http_get.h"
#include "tests/support/kafka_test_client.h"

namespace cdnwarm::producer {
namespace {

using ::cdnwarm::testing::HttpGet;
using ::cdnwarm::testing::HttpResult;
using ::cdnwarm::testing::HttpSend;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
namespace fs = std::filesystem;

constexpr char kToken[] = "console-test-token-0123456789";

class ConsoleApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string suffix = absl::StrCat(absl::ToUnixMicros(absl::Now()));
    dir_ = fs::temp_directory_path() / absl::StrCat("console_api_", suffix);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "index.html") << "<!doctype html><title>cdnwarm console</title>";
    std::ofstream(dir_ / "token") << kToken << "\n";

    ProducerConfig c;
    c.common.service = "producer";
    c.common.replica_id = "test";
    c.kafka.properties = testing::TestKafka();
    c.kafka.requests_topic = absl::StrCat("it.console.requests.", suffix);
    c.kafka.results_topic = absl::StrCat("it.console.results.", suffix);
    c.kafka.dead_letter_topic = absl::StrCat("it.console.dlq.", suffix);
    c.kafka.regions = {"eu", "us"};
    c.kafka.topic_partitions = 2;
    c.common.server.drain_timeout = absl::Seconds(2);
    c.fetch_guard.hosts = *common::HostAllowList::Parse({"example.com", "*.example.com"});
    c.auth_token_file = (dir_ / "token").string();
    c.console_address = "127.0.0.1:0";
    c.console_dir = dir_.string();
    c.console_bridge_address = "127.0.0.1:1";  // nothing listens: the bridge is down
    requests_topic_ = c.kafka.requests_topic;
    absl::StatusOr<std::unique_ptr<ProducerApp>> app = ProducerApp::Create(c, registry_);
    ASSERT_TRUE(app.ok()) << app.status();
    app_ = *std::move(app);
    const absl::Status started = app_->runner().Start();
    ASSERT_TRUE(started.ok()) << started;
    ASSERT_GT(app_->console_port(), 0);
  }
  void TearDown() override {
    if (app_) {
      app_->runner().Shutdown();
      app_->runner().Wait();
    }
    app_.reset();
    fs::remove_all(dir_);
  }

  HttpResult Post(absl::string_view path, const std::string& body, bool with_token = true) {
    std::vector<std::string> headers = {"Content-Type: application/json"};
    if (with_token) headers.push_back(absl::StrCat("Authorization: Bearer ", kToken));
    return HttpSend("POST", absl::StrCat("http://127.0.0.1:", app_->console_port(), path), body,
                    headers);
  }

  std::vector<std::string> UrlsOnKafka(const std::string& job_id) {
    std::vector<std::string> urls;
    absl::StatusOr<std::vector<testing::Record>> records = testing::ReadTopic(requests_topic_);
    EXPECT_TRUE(records.ok()) << records.status();
    if (!records.ok()) return urls;
    for (const testing::Record& r : *records) {
      cdnwarm::v1::WarmTask t;
      EXPECT_TRUE(t.ParseFromString(r.value));
      if (t.job_id() == job_id) urls.push_back(t.url());
    }
    return urls;
  }

  fs::path dir_;
  std::string requests_topic_;
  metrics::Registry registry_;
  std::unique_ptr<ProducerApp> app_;
};

TEST_F(ConsoleApiTest, ThePageIsPublicTheApiNeedsTheProducersToken) {
  EXPECT_THAT(HttpGet(absl::StrCat("http://127.0.0.1:", app_->console_port(), "/")).body,
              HasSubstr("cdnwarm console"));
  const HttpResult r =
      Post("/v1/cdnwarm.v1.Producer/Warm", R"({"url":"https://example.com/a"})", false);
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_THAT(r.body, HasSubstr(R"("status":"UNAUTHENTICATED")"));
  const HttpResult wrong = HttpSend(
      "POST",
      absl::StrCat("http://127.0.0.1:", app_->console_port(), "/v1/cdnwarm.v1.Producer/Warm"),
      R"({"url":"https://example.com/a"})",
      {"Content-Type: application/json", "Authorization: Bearer not-the-token-at-all"});
  EXPECT_EQ(wrong.status, 401) << wrong.body;
}

TEST_F(ConsoleApiTest, ABatchGoesThroughTheProducersValidationAndLandsInKafka) {
  const HttpResult r = Post("/v1/cdnwarm.v1.Producer/WarmBatch",
                            R"([{"url":"https://example.com/a"},
                                {"url":"ftp://example.com/b"},
                                {"url":"https://www.example.com/c", "options":{"targetRegions":["eu"]}}])");
  ASSERT_EQ(r.status, 200) << r.body;
  cdnwarm::v1::WarmBatchReply reply;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.body, &reply).ok()) << r.body;
  EXPECT_EQ(reply.accepted(), 2u);
  ASSERT_EQ(reply.rejected_size(), 1);
  EXPECT_EQ(reply.rejected(0).index(), 1u);
  EXPECT_THAT(reply.rejected(0).reason(), HasSubstr("scheme \"ftp\""));
  EXPECT_THAT(UrlsOnKafka(reply.job_id()),
              UnorderedElementsAre("https://example.com/a", "https://www.example.com/c"));

  const HttpResult job =
      Post("/v1/cdnwarm.v1.Producer/GetJob", absl::StrCat(R"({"jobId":")", reply.job_id(), "\"}"));
  ASSERT_EQ(job.status, 200) << job.body;
  EXPECT_THAT(job.body, HasSubstr(R"("totalTasks":"2")"));

  // The jobs list: this job, the only one of this producer's topics, newest first.
  const HttpResult list = Post("/v1/cdnwarm.v1.Producer/ListJobs", "{}");
  ASSERT_EQ(list.status, 200) << list.body;
  cdnwarm::v1::ListJobsReply jobs;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(list.body, &jobs).ok()) << list.body;
  ASSERT_EQ(jobs.jobs_size(), 1) << list.body;
  EXPECT_EQ(jobs.jobs(0).job_id(), reply.job_id());
  EXPECT_EQ(jobs.jobs(0).total_tasks(), 2u);
  EXPECT_EQ(jobs.total_jobs(), 1u);
  const HttpResult too_big = Post("/v1/cdnwarm.v1.Producer/ListJobs", R"({"pageSize": 101})");
  EXPECT_EQ(too_big.status, 400);
  EXPECT_THAT(too_big.body, HasSubstr("page_size: at most 100"));
}

TEST_F(ConsoleApiTest, WatchJobIsAnEventStreamOfTheJob) {
  const HttpResult warm =
      Post("/v1/cdnwarm.v1.Producer/Warm", R"({"url":"https://example.com/w"})");
  ASSERT_EQ(warm.status, 200) << warm.body;
  cdnwarm::v1::WarmReply reply;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(warm.body, &reply).ok());
  // The job is not done (no bridge here): the stream stays open, ticking.
  const std::string body = absl::StrCat(R"({"jobId":")", reply.job_id(), "\"}");
  const std::string got = testing::RawHttpUntil(
      app_->console_port(),
      absl::StrCat("POST /v1/cdnwarm.v1.Producer/WatchJob HTTP/1.1\r\nHost: x\r\n",
                   "Content-Type: application/json\r\nAuthorization: Bearer ", kToken,
                   "\r\nContent-Length: ", body.size(), "\r\n\r\n", body),
      "\n\n\r\n");
  EXPECT_THAT(got, HasSubstr("HTTP/1.1 200 OK"));
  EXPECT_THAT(got, HasSubstr("Content-Type: text/event-stream"));
  EXPECT_THAT(got, HasSubstr(absl::StrCat("data: {\"jobId\":\"", reply.job_id(), "\"")));
  EXPECT_THAT(got, HasSubstr("\"totalTasks\":\"1\""));
}

TEST_F(ConsoleApiTest, TheRegionsViewReachesTheBridgeAndSaysWhenItCannot) {
  const HttpResult r = Post("/v1/cdnwarm.v1.Bridge/ListSubscriptions", "{}");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_THAT(r.body, HasSubstr(R"("status":"UNAVAILABLE")"));
  const HttpResult subscribe = Post("/v1/cdnwarm.v1.Bridge/Subscribe", R"({"region":"eu"})");
  EXPECT_EQ(subscribe.status, 404) << "a warmer's call is not the console's";
}

}  // namespace
}  // namespace cdnwarm::producer
