// The producer in-process against the real broker (the `kafka` fixture) and real nginx:
// every reply is checked against what Kafka actually holds.

#include <functional>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cdnwarm/v1/producer.grpc.pb.h"
#include "common/kafka/kafka_admin.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "producer/producer_app.h"
#include "tests/support/kafka_test_client.h"
#include "tests/support/nginx_server.h"

namespace cdnwarm::producer {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

// A producer on the test broker with topics of its own.
ProducerConfig TestConfig() {
  const std::string suffix = absl::StrCat(absl::ToUnixMicros(absl::Now()));
  ProducerConfig c;
  c.common.service = "producer";
  c.common.replica_id = "test";
  c.kafka.properties = testing::TestKafka();
  c.kafka.requests_topic = absl::StrCat("it.producer.requests.", suffix);
  c.kafka.results_topic = absl::StrCat("it.producer.results.", suffix);
  c.kafka.dead_letter_topic = absl::StrCat("it.producer.dlq.", suffix);
  c.common.server.drain_timeout = absl::Seconds(2);
  c.kafka.regions = {"eu", "us"};
  c.kafka.topic_partitions = 3;
  c.fetch_guard.addresses = *common::AddressPolicy::Create({"127.0.0.0/8"});
  c.fetch_guard.hosts =
      *common::HostAllowList::Parse({"127.0.0.1", "*.example.com", "example.com"});
  return c;
}

// Tasks of `job_id` on a requests topic, with their records.
std::vector<std::pair<testing::Record, cdnwarm::v1::WarmTask>> TasksOnTopic(
    const std::string& topic, const std::string& job_id) {
  std::vector<std::pair<testing::Record, cdnwarm::v1::WarmTask>> out;
  absl::StatusOr<std::vector<testing::Record>> records = testing::ReadTopic(topic);
  EXPECT_TRUE(records.ok()) << records.status();
  if (!records.ok()) return out;
  for (testing::Record& r : *records) {
    cdnwarm::v1::WarmTask t;
    EXPECT_TRUE(t.ParseFromString(r.value));
    if (t.job_id() == job_id) out.emplace_back(std::move(r), std::move(t));
  }
  return out;
}

class ProducerIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const ProducerConfig c = TestConfig();
    config_ = new ProducerConfig(c);
    registry_ = new metrics::Registry();
    absl::StatusOr<std::unique_ptr<ProducerApp>> app = ProducerApp::Create(c, *registry_);
    if (!app.ok()) {
      setup_error_ = new std::string(app.status().ToString());
      return;
    }
    app_ = app->release();
    if (absl::Status s = app_->runner().Start(); !s.ok())
      setup_error_ = new std::string(s.ToString());
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", app_->runner().grpc_port()),
                                       grpc::InsecureChannelCredentials());
    stub_ = cdnwarm::v1::Producer::NewStub(channel).release();
  }
  // A failure in SetUpTestSuite would only skip the tests; fail each one instead.
  void SetUp() override {
    ASSERT_EQ(setup_error_, nullptr) << *setup_error_;
    ASSERT_NE(app_, nullptr);
  }

  static void TearDownTestSuite() {
    delete setup_error_;
    delete stub_;
    if (app_ != nullptr) {
      app_->runner().Shutdown();
      app_->runner().Wait();
    }
    delete app_;
    delete registry_;
    delete config_;
  }

  static std::unique_ptr<grpc::ClientContext> Ctx(absl::Duration timeout = absl::Seconds(20)) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    return ctx;
  }

  static std::vector<std::pair<testing::Record, cdnwarm::v1::WarmTask>> TasksOf(
      const std::string& job_id) {
    return TasksOnTopic(config_->kafka.requests_topic, job_id);
  }

  static std::vector<std::string> UrlsOf(const std::string& job_id) {
    std::vector<std::string> urls;
    for (const auto& [record, task] : TasksOf(job_id)) urls.push_back(task.url());
    return urls;
  }

  static std::string* setup_error_;
  static ProducerConfig* config_;
  static metrics::Registry* registry_;
  static ProducerApp* app_;
  static cdnwarm::v1::Producer::Stub* stub_;
};

std::string* ProducerIntegrationTest::setup_error_ = nullptr;
ProducerConfig* ProducerIntegrationTest::config_ = nullptr;
metrics::Registry* ProducerIntegrationTest::registry_ = nullptr;
ProducerApp* ProducerIntegrationTest::app_ = nullptr;
cdnwarm::v1::Producer::Stub* ProducerIntegrationTest::stub_ = nullptr;

TEST_F(ProducerIntegrationTest, WarmRecordIsInKafkaWhereTheReplySaysWithExactKeyAndValue) {
  cdnwarm::v1::WarmRequest req;
  // The WHATWG form: escapes kept as written, %2e a dot segment, "'" encoded in a query.
  req.set_url("HTTPS://WWW.Example.com:443/a/./b/../%2e/index%41.html?q'#top");
  req.mutable_options()->add_target_regions("eu");
  auto* v = req.mutable_options()->add_variants();
  v->set_name("br");
  auto* h = v->add_headers();
  h->set_name("Accept-Encoding");
  h->set_value("br");
  cdnwarm::v1::WarmReply reply;
  grpc::Status s = stub_->Warm(Ctx().get(), req, &reply);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(reply.canonical_url(), "https://www.example.com/a/index%41.html?q%27");
  EXPECT_EQ(reply.task_id(), reply.job_id() + "/0");

  auto tasks = TasksOf(reply.job_id());
  ASSERT_EQ(tasks.size(), 1u);
  const auto& [record, task] = tasks[0];
  EXPECT_EQ(record.partition, reply.partition());
  EXPECT_EQ(record.offset, reply.offset());
  EXPECT_EQ(record.key, "https://www.example.com/a/index%41.html?q%27");
  EXPECT_EQ(task.url(), record.key);
  EXPECT_EQ(task.task_id(), reply.task_id());
  EXPECT_THAT(task.target_regions(), ::testing::ElementsAre("eu"));
  ASSERT_EQ(task.variants_size(), 1);
  EXPECT_EQ(task.variants(0).headers(0).value(), "br");
  EXPECT_TRUE(task.has_enqueued_at());
}

TEST_F(ProducerIntegrationTest, WarmRefusesBadInputWithTheRightCode) {
  struct Bad {
    std::string url;
    grpc::StatusCode code;
    std::string message;
  };
  for (const Bad& b : std::vector<Bad>{
           {"ftp://example.com/x", grpc::INVALID_ARGUMENT, "url: scheme \"ftp\""},
           {"http://user:pw@example.com/", grpc::INVALID_ARGUMENT, "userinfo"},
           {"https://not-allowed.org/", grpc::PERMISSION_DENIED, "not in the allowed hosts"},
           {"http://10.0.0.1/", grpc::PERMISSION_DENIED, "not in the allowed hosts"},
       }) {
    cdnwarm::v1::WarmRequest req;
    req.set_url(b.url);
    cdnwarm::v1::WarmReply reply;
    grpc::Status s = stub_->Warm(Ctx().get(), req, &reply);
    EXPECT_EQ(s.error_code(), b.code) << b.url;
    EXPECT_THAT(s.error_message(), HasSubstr(b.message)) << b.url;
  }
  cdnwarm::v1::WarmRequest req;
  req.set_url("https://example.com/");
  req.mutable_options()->add_target_regions("Not A Region");
  cdnwarm::v1::WarmReply reply;
  grpc::Status s = stub_->Warm(Ctx().get(), req, &reply);
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("options.target_regions[0]"));
  // A region this deployment does not have (--regions=eu,us): a typo is refused, not
  // SKIPPED everywhere while the job reports done.
  req.mutable_options()->clear_target_regions();
  req.mutable_options()->add_target_regions("eu");
  req.mutable_options()->add_target_regions("us-east");
  s = stub_->Warm(Ctx().get(), req, &reply);
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            "options.target_regions[1]: region \"us-east\" is not one of this deployment's "
            "regions (eu, us)");
}

TEST_F(ProducerIntegrationTest, BatchReportsEachBadEntryAndProducesExactlyTheGoodOnes) {
  const std::vector<std::string> entries = {
      "https://example.com/1",      "gopher://example.com/", "https://example.com/2",
      "https://example.com:99999/", "https://evil.org/x",    "https://a.example.com/3",
      "https://example.com/1"};  // a repeat is a task of its own
  cdnwarm::v1::WarmBatchReply reply;
  auto ctx = Ctx();
  auto writer = stub_->WarmBatch(ctx.get(), &reply);
  for (const std::string& u : entries) {
    cdnwarm::v1::WarmRequest req;
    req.set_url(u);
    ASSERT_TRUE(writer->Write(req));
  }
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(reply.accepted(), 4u);
  EXPECT_EQ(reply.rejected_count(), 3u);
  std::map<uint32_t, std::string> rejected;
  for (const auto& r : reply.rejected()) rejected[r.index()] = r.reason();
  ASSERT_EQ(rejected.size(), 3u);
  EXPECT_THAT(rejected[1], HasSubstr("scheme \"gopher\""));
  EXPECT_THAT(rejected[3], HasSubstr("port \"99999\" is out of range"));
  EXPECT_THAT(rejected[4], HasSubstr("not in the allowed hosts"));

  auto tasks = TasksOf(reply.job_id());
  std::multiset<std::string> urls;
  std::set<std::string> task_ids;
  for (const auto& [record, task] : tasks) {
    urls.insert(record.key);
    task_ids.insert(task.task_id());
  }
  EXPECT_THAT(urls,
              UnorderedElementsAreArray({"https://example.com/1", "https://example.com/2",
                                         "https://a.example.com/3", "https://example.com/1"}));
  const std::string j = reply.job_id();
  EXPECT_THAT(task_ids, UnorderedElementsAreArray({j + "/0", j + "/2", j + "/5", j + "/6"}));
}

TEST_F(ProducerIntegrationTest, BatchMessagesMayCarryManyUrlsNumberedInStreamOrder) {
  cdnwarm::v1::WarmBatchReply reply;
  auto ctx = Ctx();
  auto writer = stub_->WarmBatch(ctx.get(), &reply);
  cdnwarm::v1::WarmRequest first;  // url and urls: entries 0, 1, 2
  first.set_url("https://example.com/a");
  first.add_urls("https://example.com/b");
  first.add_urls("ftp://example.com/c");
  ASSERT_TRUE(writer->Write(first));
  cdnwarm::v1::WarmRequest second;  // urls only: entries 3, 4
  second.add_urls("https://example.com/d");
  second.add_urls("https://evil.org/e");
  ASSERT_TRUE(writer->Write(second));
  cdnwarm::v1::WarmRequest third;  // url only: entry 5
  third.set_url("https://example.com/f");
  ASSERT_TRUE(writer->Write(third));
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(reply.accepted(), 4u);
  std::map<uint32_t, std::string> rejected;
  for (const auto& r : reply.rejected()) rejected[r.index()] = r.url();
  EXPECT_THAT(rejected, UnorderedElementsAre(Pair(2u, "ftp://example.com/c"),
                                             Pair(4u, "https://evil.org/e")));
  std::set<std::string> task_ids;
  for (const auto& [record, task] : TasksOf(reply.job_id())) {
    task_ids.insert(absl::StrCat(task.task_id(), " ", record.key));
  }
  const std::string j = reply.job_id();
  EXPECT_THAT(task_ids,
              UnorderedElementsAre(j + "/0 https://example.com/a", j + "/1 https://example.com/b",
                                   j + "/3 https://example.com/d", j + "/5 https://example.com/f"));
}

TEST_F(ProducerIntegrationTest, TooManyUrlsInOneMessageAndUrlsInUnaryWarmAreRefused) {
  cdnwarm::v1::WarmBatchReply reply;
  auto ctx = Ctx();
  auto writer = stub_->WarmBatch(ctx.get(), &reply);
  cdnwarm::v1::WarmRequest big;
  for (int i = 0; i < 1001; ++i) big.add_urls(absl::StrCat("https://example.com/", i));
  writer->Write(big);
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("urls: at most 1000 per message, got 1001"));

  cdnwarm::v1::WarmRequest unary;
  unary.set_url("https://example.com/1");
  unary.add_urls("https://example.com/2");
  cdnwarm::v1::WarmReply warm_reply;
  auto unary_ctx = Ctx();
  s = stub_->Warm(unary_ctx.get(), unary, &warm_reply);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("urls: only WarmBatch takes a list"));
}

TEST_F(ProducerIntegrationTest, EmptyBatchIsAnError) {
  cdnwarm::v1::WarmBatchReply reply;
  auto ctx = Ctx();
  auto writer = stub_->WarmBatch(ctx.get(), &reply);
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
}

TEST_F(ProducerIntegrationTest, SitemapIndexServedByNginxEnqueuesExactlyTheListedUrls) {
  const std::string root = testing::MakeTempDir("sitemaps");
  auto server = testing::NginxServer::Start(root);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string base = (*server)->url("");
  auto urlset = [](const std::vector<std::string>& locs) {
    std::string x =
        "<?xml version=\"1.0\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">";
    for (const std::string& l : locs) x += "<url><loc>" + l + "</loc></url>\n";
    return x + "</urlset>";
  };
  auto index = [](const std::vector<std::string>& locs) {
    std::string x = "<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">";
    for (const std::string& l : locs) x += "<sitemap><loc>" + l + "</loc></sitemap>";
    return x + "</sitemapindex>";
  };
  testing::WriteFile(root + "/sitemap.xml",
                     index({base + "/a.xml", base + "/b.xml.gz", base + "/nested/index.xml",
                            base + "/missing.xml"}));
  testing::WriteFile(root + "/a.xml", urlset({"https://example.com/a1", "https://example.com/a2"}));
  // b.xml.gz: a gzip file, detected by its bytes.
  {
    const std::string plain = urlset({"https://example.com/b1", "https://www.example.com/b2"});
    testing::WriteFile(root + "/b.xml", plain);
    ASSERT_EQ(std::system(("gzip -kf " + root + "/b.xml").c_str()), 0);
  }
  testing::WriteFile(root + "/nested/index.xml", index({base + "/nested/c.xml"}));
  testing::WriteFile(root + "/nested/c.xml", urlset({"https://example.com/c1", "ftp://bad/"}));

  cdnwarm::v1::WarmSitemapRequest req;
  req.set_sitemap_url(base + "/sitemap.xml");
  cdnwarm::v1::WarmBatchReply reply;
  grpc::Status s = stub_->WarmSitemap(Ctx(absl::Seconds(30)).get(), req, &reply);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(reply.accepted(), 5u);
  std::vector<std::string> reasons;
  for (const auto& r : reply.rejected()) reasons.push_back(r.url() + " " + r.reason());
  EXPECT_EQ(reply.rejected_count(), 2u) << ::testing::PrintToString(reasons);
  EXPECT_THAT(UrlsOf(reply.job_id()),
              UnorderedElementsAreArray({"https://example.com/a1", "https://example.com/a2",
                                         "https://example.com/b1", "https://www.example.com/b2",
                                         "https://example.com/c1"}));

  // Depth is bounded: with max_depth 1 the nested index is not followed.
  req.set_max_depth(1);
  reply.Clear();
  s = stub_->WarmSitemap(Ctx(absl::Seconds(30)).get(), req, &reply);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(reply.accepted(), 4u);
}

// Expansion stopped at max_urls and said nothing: the reply was OK with no sign of it.
// Now the reply and the job (on every replica, through the results topic) say what was
// found and kept.
TEST_F(ProducerIntegrationTest, AnExpansionThatStopsAtMaxUrlsSaysSo) {
  const std::string root = testing::MakeTempDir("truncated");
  auto server = testing::NginxServer::Start(root);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string base = (*server)->url("");
  std::string first = "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">";
  for (int i = 0; i < 7; ++i)
    first += absl::StrCat("<url><loc>https://example.com/t", i, "</loc></url>");
  testing::WriteFile(root + "/first.xml", first + "</urlset>");
  testing::WriteFile(root + "/second.xml", first + "</urlset>");
  testing::WriteFile(
      root + "/index.xml",
      absl::StrCat("<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">",
                   "<sitemap><loc>", base, "/first.xml</loc></sitemap>", "<sitemap><loc>", base,
                   "/second.xml</loc></sitemap>", "</sitemapindex>"));
  cdnwarm::v1::WarmSitemapRequest req;
  req.set_sitemap_url(base + "/index.xml");
  req.set_max_urls(5);
  cdnwarm::v1::WarmBatchReply reply;
  grpc::Status s = stub_->WarmSitemap(Ctx(absl::Seconds(30)).get(), req, &reply);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(reply.accepted(), 5u);
  ASSERT_TRUE(reply.has_truncated());
  EXPECT_EQ(reply.truncated().found(), 7u) << "the first sitemap, read to its end";
  EXPECT_EQ(reply.truncated().kept(), 5u);
  EXPECT_EQ(reply.truncated().unread_sitemaps(), 1u) << "second.xml, not fetched";
  // The job says so, on a replica that never saw the call: from the results topic.
  metrics::Registry registry;
  absl::StatusOr<std::unique_ptr<ProducerApp>> second = ProducerApp::Create(*config_, registry);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE((*second)->runner().Start().ok());
  auto other = cdnwarm::v1::Producer::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*second)->runner().grpc_port()),
                          grpc::InsecureChannelCredentials()));
  cdnwarm::v1::Job job;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    cdnwarm::v1::GetJobRequest get;
    get.set_job_id(reply.job_id());
    job.Clear();
    if (other->GetJob(Ctx().get(), get, &job).ok() && job.has_truncated()) break;
    absl::SleepFor(absl::Milliseconds(100));  // polling the other replica, with a deadline
  }
  EXPECT_EQ(job.truncated().ShortDebugString(), reply.truncated().ShortDebugString());
  (*second)->runner().Shutdown();
  (*second)->runner().Wait();

  // A playlist: every segment counted, the first max_urls kept.
  testing::WriteFile(root + "/media.m3u8",
                     "#EXTM3U\n#EXTINF:6,\ns0.ts\n#EXTINF:6,\ns1.ts\n#EXTINF:6,\ns2.ts\n"
                     "#EXT-X-ENDLIST\n");
  cdnwarm::v1::WarmPlaylistRequest playlist;
  playlist.set_playlist_url(base + "/media.m3u8");
  playlist.set_max_urls(2);
  reply.Clear();
  s = stub_->WarmPlaylist(Ctx().get(), playlist, &reply);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(reply.accepted(), 2u);
  EXPECT_EQ(reply.truncated().found(), 3u);
  EXPECT_EQ(reply.truncated().kept(), 2u);
  // Within the limit: no truncation.
  playlist.set_max_urls(3);
  reply.Clear();
  ASSERT_TRUE(stub_->WarmPlaylist(Ctx().get(), playlist, &reply).ok());
  EXPECT_FALSE(reply.has_truncated());
}

TEST_F(ProducerIntegrationTest, SitemapFetchObeysTheAddressGuard) {
  // The allow-list admits example.com, but nothing may be fetched from a refused address:
  // localhost.example.com does not resolve here, so use the literal private address.
  cdnwarm::v1::WarmSitemapRequest req;
  req.set_sitemap_url("http://10.0.0.1/sitemap.xml");
  cdnwarm::v1::WarmBatchReply reply;
  grpc::Status s = stub_->WarmSitemap(Ctx().get(), req, &reply);
  EXPECT_EQ(s.error_code(), grpc::PERMISSION_DENIED);
}

TEST_F(ProducerIntegrationTest, PlaylistLadderIsExpandedWithRelativeUrisResolved) {
  const std::string root = testing::MakeTempDir("hls");
  auto server = testing::NginxServer::Start(root);
  ASSERT_TRUE(server.ok()) << server.status();
  testing::WriteFile(root + "/live/master.m3u8",
                     "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n360p/index.m3u8\n"
                     "#EXT-X-STREAM-INF:BANDWIDTH=2\n/live/720p/index.m3u8\n");
  testing::WriteFile(root + "/live/360p/index.m3u8",
                     "#EXTM3U\n#EXTINF:6,\nseg0.ts\n#EXTINF:6,\nseg1.ts\n#EXT-X-ENDLIST\n");
  testing::WriteFile(root + "/live/720p/index.m3u8",
                     "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:6,\n../720p/seg0.m4s\n");
  cdnwarm::v1::WarmPlaylistRequest req;
  req.set_playlist_url((*server)->url("/live/master.m3u8"));
  req.set_include_playlists(true);
  cdnwarm::v1::WarmBatchReply reply;
  grpc::Status s = stub_->WarmPlaylist(Ctx().get(), req, &reply);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::string b = (*server)->url("/live");
  EXPECT_THAT(
      UrlsOf(reply.job_id()),
      UnorderedElementsAreArray({b + "/master.m3u8", b + "/360p/index.m3u8", b + "/360p/seg0.ts",
                                 b + "/360p/seg1.ts", b + "/720p/index.m3u8", b + "/720p/init.mp4",
                                 b + "/720p/seg0.m4s"}));
}

TEST_F(ProducerIntegrationTest, GetJobAndWatchJobFollowResultsOnTheResultsTopic) {
  cdnwarm::v1::WarmBatchReply batch;
  {
    auto ctx = Ctx();
    auto writer = stub_->WarmBatch(ctx.get(), &batch);
    for (int i = 0; i < 3; ++i) {
      cdnwarm::v1::WarmRequest req;
      req.set_url(absl::StrCat("https://example.com/job/", i));
      ASSERT_TRUE(writer->Write(req));
    }
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
  }
  const std::string job_id = batch.job_id();
  cdnwarm::v1::GetJobRequest get;
  get.set_job_id(job_id);
  cdnwarm::v1::Job job;
  ASSERT_TRUE(stub_->GetJob(Ctx().get(), get, &job).ok());
  EXPECT_EQ(job.total_tasks(), 3u);
  ASSERT_EQ(job.regions_size(), 2);
  EXPECT_EQ(job.regions(0).region(), "eu");
  EXPECT_EQ(job.regions(0).pending(), 3u);
  EXPECT_FALSE(job.done());

  // Watch from now on; results arrive through Kafka.
  auto watch_ctx = Ctx(absl::Seconds(30));
  cdnwarm::v1::WatchJobRequest watch;
  watch.set_job_id(job_id);
  watch.mutable_min_interval()->set_nanos(50'000'000);
  auto reader = stub_->WatchJob(watch_ctx.get(), watch);
  cdnwarm::v1::Job update;
  ASSERT_TRUE(reader->Read(&update));
  EXPECT_EQ(update.total_tasks(), 3u);

  std::vector<std::pair<std::string, std::string>> results;
  const cdnwarm::v1::Outcome outcomes[3] = {
      cdnwarm::v1::OUTCOME_WARMED, cdnwarm::v1::OUTCOME_FAILED, cdnwarm::v1::OUTCOME_EXPIRED};
  for (const std::string region : {"eu", "us"}) {
    for (int i = 0; i < 3; ++i) {
      cdnwarm::v1::WarmResult r;
      r.set_task_id(absl::StrCat(job_id, "/", i));
      r.set_job_id(job_id);
      r.set_region(region);
      r.set_outcome(outcomes[i]);
      results.emplace_back(r.task_id(), r.SerializeAsString());
    }
  }
  ASSERT_TRUE(testing::ProduceRecords(config_->kafka.results_topic, results).ok());

  int updates = 1;
  while (reader->Read(&update)) ++updates;
  grpc::Status s = reader->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_GE(updates, 2);
  EXPECT_TRUE(update.done());
  for (const auto& r : update.regions()) {
    EXPECT_EQ(r.warmed(), 1u) << r.region();
    EXPECT_EQ(r.failed(), 1u) << r.region();
    EXPECT_EQ(r.expired(), 1u) << r.region();
    EXPECT_EQ(r.pending(), 0u) << r.region();
  }
  ASSERT_TRUE(stub_->GetJob(Ctx().get(), get, &job).ok());
  EXPECT_TRUE(job.done());
}

TEST_F(ProducerIntegrationTest, UnknownJobsAreNotFound) {
  cdnwarm::v1::GetJobRequest get;
  get.set_job_id("jdoesnotexist");
  cdnwarm::v1::Job job;
  grpc::Status s = stub_->GetJob(Ctx().get(), get, &job);
  EXPECT_EQ(s.error_code(), grpc::NOT_FOUND);
  get.set_job_id("");
  EXPECT_EQ(stub_->GetJob(Ctx().get(), get, &job).error_code(), grpc::INVALID_ARGUMENT);
  cdnwarm::v1::WatchJobRequest watch;
  watch.set_job_id("jdoesnotexist");
  auto ctx = Ctx();
  auto reader = stub_->WatchJob(ctx.get(), watch);
  cdnwarm::v1::Job update;
  EXPECT_FALSE(reader->Read(&update));
  EXPECT_EQ(reader->Finish().error_code(), grpc::NOT_FOUND);
}

// Per-URL results, read back from the results topic: only the job's, filtered by region
// and outcome, page after page with a token, every one exactly once.
TEST_F(ProducerIntegrationTest, ListResultsPagesThroughOneJobsResults) {
  cdnwarm::v1::WarmBatchReply batch;
  {
    auto ctx = Ctx();
    auto writer = stub_->WarmBatch(ctx.get(), &batch);
    for (int i = 0; i < 5; ++i) {
      cdnwarm::v1::WarmRequest req;
      req.set_url(absl::StrCat("https://example.com/listed/", i));
      ASSERT_TRUE(writer->Write(req));
    }
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
  }
  const std::string job = batch.job_id();
  // Results as the bridges write them (keyed by job), with another job's in between.
  std::vector<std::pair<std::string, std::string>> records;
  auto result = [&](const std::string& job_id, int index, const std::string& region,
                    cdnwarm::v1::Outcome outcome) {
    cdnwarm::v1::WarmResult r;
    r.set_task_id(absl::StrCat(job_id, "/", index));
    r.set_job_id(job_id);
    r.set_url(absl::StrCat("https://example.com/listed/", index));
    r.set_region(region);
    r.set_outcome(outcome);
    r.set_http_status(outcome == cdnwarm::v1::OUTCOME_FAILED ? 404 : 200);
    records.emplace_back(job_id, r.SerializeAsString());
  };
  for (int i = 0; i < 5; ++i) {
    result(job, i, "eu", i == 3 ? cdnwarm::v1::OUTCOME_FAILED : cdnwarm::v1::OUTCOME_WARMED);
    result("j-another-job", i, "eu", cdnwarm::v1::OUTCOME_FAILED);
    result(job, i, "us", i == 1 ? cdnwarm::v1::OUTCOME_UNVERIFIED : cdnwarm::v1::OUTCOME_WARMED);
  }
  ASSERT_TRUE(testing::ProduceRecords(config_->kafka.results_topic, records).ok());

  auto list = [&](cdnwarm::v1::ListResultsRequest req) {
    std::vector<cdnwarm::v1::WarmResult> all;
    int pages = 0;
    do {
      cdnwarm::v1::ListResultsReply reply;
      grpc::Status s = stub_->ListResults(Ctx().get(), req, &reply);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      ++pages;
      all.insert(all.end(), reply.results().begin(), reply.results().end());
      req.set_page_token(reply.next_page_token());
    } while (!req.page_token().empty() && pages < 100);
    return std::make_pair(all, pages);
  };
  cdnwarm::v1::ListResultsRequest req;
  req.set_job_id(job);
  req.set_page_size(3);
  auto [all, pages] = list(req);
  EXPECT_EQ(all.size(), 10u);
  EXPECT_GE(pages, 4) << "ten results, three a page";
  std::set<std::string> seen;
  for (const auto& r : all) {
    EXPECT_EQ(r.job_id(), job);
    EXPECT_TRUE(seen.insert(r.region() + " " + r.task_id()).second) << "listed once";
  }
  req.set_page_size(0);
  req.set_region("us");
  req.add_outcomes(cdnwarm::v1::OUTCOME_FAILED);
  req.add_outcomes(cdnwarm::v1::OUTCOME_UNVERIFIED);
  auto [unproven, unused] = list(req);
  ASSERT_EQ(unproven.size(), 1u);
  EXPECT_EQ(unproven[0].task_id(), absl::StrCat(job, "/1"));
  EXPECT_EQ(unproven[0].outcome(), cdnwarm::v1::OUTCOME_UNVERIFIED);

  // Bad input names the field; an unknown job is NOT_FOUND.
  for (const auto& [mutate, field] :
       std::vector<std::pair<std::function<void(cdnwarm::v1::ListResultsRequest*)>, std::string>>{
           {[](auto* r) { r->set_page_size(1001); }, "page_size"},
           {[](auto* r) { r->set_page_token("x"); }, "page_token"},
           {[](auto* r) { r->set_region("EU!"); }, "region"},
           {[](auto* r) { r->add_outcomes(cdnwarm::v1::OUTCOME_UNSPECIFIED); }, "outcomes[0]"},
       }) {
    cdnwarm::v1::ListResultsRequest bad;
    bad.set_job_id(job);
    mutate(&bad);
    cdnwarm::v1::ListResultsReply reply;
    grpc::Status s = stub_->ListResults(Ctx().get(), bad, &reply);
    EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT) << field;
    EXPECT_THAT(s.error_message(), HasSubstr(field));
  }
  cdnwarm::v1::ListResultsRequest unknown;
  unknown.set_job_id("j-never-made");
  cdnwarm::v1::ListResultsReply reply;
  EXPECT_EQ(stub_->ListResults(Ctx().get(), unknown, &reply).error_code(), grpc::NOT_FOUND);
}

TEST_F(ProducerIntegrationTest, JobStateIsRebuiltFromKafkaByANewReplica) {
  cdnwarm::v1::WarmRequest req;
  req.set_url("https://example.com/rebuilt");
  cdnwarm::v1::WarmReply reply;
  ASSERT_TRUE(stub_->Warm(Ctx().get(), req, &reply).ok());
  cdnwarm::v1::WarmResult r;
  r.set_task_id(reply.task_id());
  r.set_job_id(reply.job_id());
  r.set_region("eu");
  r.set_outcome(cdnwarm::v1::OUTCOME_WARMED);
  ASSERT_TRUE(
      testing::ProduceRecords(config_->kafka.results_topic, {{r.task_id(), r.SerializeAsString()}})
          .ok());

  // A second producer (a restart, or another replica) reads the same topics.
  metrics::Registry registry;
  absl::StatusOr<std::unique_ptr<ProducerApp>> second = ProducerApp::Create(*config_, registry);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE((*second)->runner().Start().ok());
  auto stub = cdnwarm::v1::Producer::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*second)->runner().grpc_port()),
                          grpc::InsecureChannelCredentials()));
  cdnwarm::v1::WatchJobRequest watch;
  watch.set_job_id(reply.job_id());
  auto ctx = Ctx(absl::Seconds(20));
  auto reader = stub->WatchJob(ctx.get(), watch);
  cdnwarm::v1::Job job;
  // The new replica may still be reading when the watch starts (NOT_FOUND then): retry
  // until the job shows the eu result, within the deadline.
  bool seen = false;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!seen && absl::Now() < deadline) {
    while (reader->Read(&job)) {
      for (const auto& p : job.regions()) seen = seen || (p.region() == "eu" && p.warmed() == 1);
      if (seen) break;
    }
    if (!seen) {
      reader->Finish();
      ctx = Ctx(absl::Seconds(5));
      reader = stub->WatchJob(ctx.get(), watch);
    }
  }
  EXPECT_TRUE(seen);
  EXPECT_EQ(job.total_tasks(), 1u);
  ctx->TryCancel();
  reader->Finish();
  (*second)->runner().Shutdown();
  (*second)->runner().Wait();
}

// A producer of its own for tests of limits, listening on IPv4 and IPv6, so clients from
// 127.0.0.1 and from ::1 count as different clients.
class LimitedProducer {
 public:
  explicit LimitedProducer(ProducerConfig c) {
    c.common.server.grpc_address = "[::]:0";
    absl::StatusOr<std::unique_ptr<ProducerApp>> app = ProducerApp::Create(c, registry_);
    if (!app.ok()) {
      status_ = app.status();
      return;
    }
    app_ = *std::move(app);
    status_ = app_->runner().Start();
  }
  ~LimitedProducer() {
    if (app_ == nullptr) return;
    app_->runner().Shutdown();
    app_->runner().Wait();
  }
  const absl::Status& status() const { return status_; }
  std::unique_ptr<cdnwarm::v1::Producer::Stub> Client(absl::string_view from) const {
    return cdnwarm::v1::Producer::NewStub(grpc::CreateChannel(
        absl::StrCat(from, ":", app_->runner().grpc_port()), grpc::InsecureChannelCredentials()));
  }

 private:
  metrics::Registry registry_;
  std::unique_ptr<ProducerApp> app_;
  absl::Status status_;
};

std::unique_ptr<grpc::ClientContext> CallContext() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  return ctx;
}

grpc::Status WarmOne(cdnwarm::v1::Producer::Stub& stub, absl::string_view url) {
  cdnwarm::v1::WarmRequest req;
  req.set_url(std::string(url));
  cdnwarm::v1::WarmReply reply;
  return stub.Warm(CallContext().get(), req, &reply);
}

TEST(ProducerLimitsTest, EachClientHasItsOwnRateAndABatchOverItIsPacedNotRefused) {
  ProducerConfig c = TestConfig();
  c.client_rate = 0.5;
  c.client_burst = 3;
  LimitedProducer producer(c);
  ASSERT_TRUE(producer.status().ok()) << producer.status();

  // Client A: its burst of 3, then refused, saying the limit and when to retry.
  auto a = producer.Client("127.0.0.1");
  for (int i = 0; i < 3; ++i) {
    grpc::Status s = WarmOne(*a, absl::StrCat("https://example.com/a/", i));
    ASSERT_TRUE(s.ok()) << i << ": " << s.error_message();
  }
  grpc::Status refused = WarmOne(*a, "https://example.com/a/3");
  EXPECT_EQ(refused.error_code(), grpc::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(),
              HasSubstr("rate limit: client ip:127.0.0.1 may send 0.5 URLs/s (burst 3); retry in"));

  // Client B has a bucket of its own.
  auto b = producer.Client("[::1]");
  grpc::Status other = WarmOne(*b, "https://example.com/b/0");
  EXPECT_TRUE(other.ok()) << other.error_message();

  // B streams 3 URLs, one over the 2 tokens it has left: all are accepted (the stream is
  // slowed, not refused), and the batch leaves B without tokens: its next Warm is refused.
  cdnwarm::v1::WarmBatchReply batch;
  auto ctx = CallContext();
  auto writer = b->WarmBatch(ctx.get(), &batch);
  cdnwarm::v1::WarmRequest req;
  for (int i = 0; i < 3; ++i) req.add_urls(absl::StrCat("https://example.com/b/batch/", i));
  ASSERT_TRUE(writer->Write(req));
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(batch.accepted(), 3u);
  EXPECT_EQ(TasksOnTopic(c.kafka.requests_topic, batch.job_id()).size(), 3u);
  grpc::Status after = WarmOne(*b, "https://example.com/b/1");
  EXPECT_EQ(after.error_code(), grpc::RESOURCE_EXHAUSTED);
  EXPECT_THAT(after.error_message(), HasSubstr("client ip:[::1]"));
}

TEST(ProducerLimitsTest, AStreamPastMaxBatchUrlsIsRefusedAndKeepsWhatCameBefore) {
  ProducerConfig c = TestConfig();
  c.max_batch_urls = 60;
  LimitedProducer producer(c);
  ASSERT_TRUE(producer.status().ok()) << producer.status();
  auto stub = producer.Client("127.0.0.1");
  cdnwarm::v1::WarmBatchReply big;
  auto ctx = CallContext();
  auto writer = stub->WarmBatch(ctx.get(), &big);
  for (int m = 0; m < 7; ++m) {
    cdnwarm::v1::WarmRequest req;
    for (int i = 0; i < 10; ++i) req.add_urls(absl::StrCat("https://example.com/big/", m, "/", i));
    if (!writer->Write(req)) break;
  }
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("at most 60 URLs per stream"));
  EXPECT_THAT(s.error_message(), HasSubstr("keeps the 60 entries before"));
}

}  // namespace
}  // namespace cdnwarm::producer
