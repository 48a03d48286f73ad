// TaskWarmer on a real HttpEngine and a real nginx edge: one GET per variant with its own
// headers, the verify GET (per warmer and per task), the worst variant as the task's outcome
// in its region, the result's fields, and tasks refused before any fetch.

#include "warmer/task_warmer.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/core/proto_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/fake_clock.h"
#include "tests/support/http_get.h"
#include "tests/support/nginx_server.h"
#include "tests/support/notification.h"

namespace cdnwarm::warmer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr const char* kPython = CDNWARM_TEST_PYTHON;
constexpr const char* kOrigin = CDNWARM_TEST_ORIGIN;

// A caching edge in front of the origin. /answer/ answers by the request's X-Answer header:
// 404, 503 (Retry-After 9) or 429 (Retry-After 4), and otherwise is the origin's /static/
// through the cache, so one task's variants can each get a different answer.
std::string EdgeConf(int origin_port) {
  const std::string cache = absl::StrCat(R"(
      proxy_cache edge;
      proxy_cache_valid 200 10m;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      add_header X-Cache-Status $upstream_cache_status always;
      add_header X-Served-By edge-t always;)");
  return absl::StrCat(R"(
    location / {
      proxy_pass http://127.0.0.1:)",
                      origin_port, ";", cache, R"(
    }
    location /answer/ {
      if ($http_x_answer = "404") { return 404; }
      if ($http_x_answer = "503") { add_header Retry-After 9 always; return 503; }
      if ($http_x_answer = "429") { add_header Retry-After 4 always; return 429; }
      proxy_pass http://127.0.0.1:)",
                      origin_port, "/static/;", cache, R"(
    })");
}

class TaskWarmerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto origin = testing::StartTestOrigin(kPython, kOrigin, &origin_port_);
    ASSERT_TRUE(origin.ok()) << origin.status();
    origin_ = *std::move(origin);
    const std::string root = testing::MakeTempDir("task-edge");
    auto edge = testing::NginxServer::Start(
        root, EdgeConf(origin_port_), "127.0.0.1",
        absl::StrCat("proxy_cache_path ", root, "/cache levels=1:2 keys_zone=edge:1m;"));
    ASSERT_TRUE(edge.ok()) << edge.status();
    edge_ = *std::move(edge);
    guard_.addresses = *common::AddressPolicy::Create({"127.0.0.0/8"});
    auto engine = HttpEngine::Create({}, guard_, registry_);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }

  static WarmOutcome WarmSync(TaskWarmer& warmer, const cdnwarm::v1::WarmTask& task,
                              uint32_t attempt = 1, std::optional<bool> verify = std::nullopt) {
    testing::Notification done;
    WarmOutcome out;
    warmer.Warm(
        task, attempt,
        [&](WarmOutcome o) {
          out = std::move(o);
          done.Notify();
        },
        verify);
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(60)));
    return out;
  }

  static cdnwarm::v1::WarmTask Task(const std::string& url) {
    cdnwarm::v1::WarmTask t;
    t.set_task_id("job-1/4");
    t.set_job_id("job-1");
    t.set_url(url);
    return t;
  }

  static void AddVariant(cdnwarm::v1::WarmTask* t, const std::string& name,
                         const std::string& header = "", const std::string& value = "") {
    cdnwarm::v1::RequestVariant* v = t->add_variants();
    v->set_name(name);
    if (!header.empty()) {
      cdnwarm::v1::Header* h = v->add_headers();
      h->set_name(header);
      h->set_value(value);
    }
  }

  // How many GETs of `target` the edge logged, once a later request `marker` was logged
  // (nginx logs each request after answering it, in order).
  size_t EdgeLogged(const std::string& target, const std::string& marker) {
    testing::HttpResult r = testing::HttpGet(edge_->url(marker));
    EXPECT_EQ(r.status, 200) << r.error;
    const std::string log = edge_->WaitForAccessLog(marker);
    return std::vector<std::string>(absl::StrSplit(log, absl::StrCat("\"GET ", target, " HTTP/")))
               .size() -
           1;
  }

  metrics::Registry registry_;
  std::unique_ptr<testing::ChildProcess> origin_;
  int origin_port_ = 0;
  std::unique_ptr<testing::NginxServer> edge_;
  common::FetchGuard guard_;
  std::unique_ptr<HttpEngine> engine_;
};

TEST_F(TaskWarmerTest, EveryVariantIsFetchedWithItsHeadersAndProvenByAVerifyHit) {
  TaskWarmer warmer(*engine_, guard_, {.region = "eu-west", .warmer_id = "warmer-3"});
  // Not canonical as given: upper-case scheme and a dot segment.
  cdnwarm::v1::WarmTask task =
      Task(absl::StrCat("HTTP://127.0.0.1:", edge_->port(), "/static/a/../v.js?size=5000"));
  AddVariant(&task, "gzip", "Accept-Encoding", "gzip");
  AddVariant(&task, "identity");
  const absl::Time before = absl::Now();
  WarmOutcome out = WarmSync(warmer, task, /*attempt=*/3);

  ASSERT_EQ(out.ack, cdnwarm::v1::ACK_OUTCOME_WARMED) << out.result.error();
  const cdnwarm::v1::WarmResult& r = out.result;
  EXPECT_EQ(r.outcome(), cdnwarm::v1::OUTCOME_WARMED);
  EXPECT_EQ(r.task_id(), "job-1/4");
  EXPECT_EQ(r.job_id(), "job-1");
  EXPECT_EQ(r.url(), absl::StrCat("http://127.0.0.1:", edge_->port(), "/static/v.js?size=5000"))
      << "canonical";
  EXPECT_EQ(r.region(), "eu-west");
  EXPECT_EQ(r.warmer_id(), "warmer-3");
  EXPECT_EQ(r.attempts(), 3u);
  EXPECT_EQ(r.error(), "");
  EXPECT_EQ(r.http_status(), 200);
  EXPECT_EQ(r.cache_before(), cdnwarm::v1::CACHE_STATUS_MISS);
  EXPECT_EQ(r.cache_after(), cdnwarm::v1::CACHE_STATUS_HIT);
  EXPECT_GE(common::FromProtoTimestamp(r.finished_at()), before - absl::Seconds(1));
  EXPECT_LE(common::FromProtoTimestamp(r.finished_at()), absl::Now() + absl::Seconds(1));

  ASSERT_EQ(r.variants_size(), 2);
  const cdnwarm::v1::VariantResult& gzip = r.variants(0);
  const cdnwarm::v1::VariantResult& identity = r.variants(1);
  EXPECT_EQ(gzip.variant(), "gzip");
  EXPECT_EQ(identity.variant(), "identity");
  EXPECT_EQ(identity.body_bytes(), 5000);
  EXPECT_LT(gzip.body_bytes(), 5000) << "the gzip variant sent its Accept-Encoding";
  EXPECT_EQ(r.bytes(), gzip.body_bytes() + identity.body_bytes());
  absl::Duration slowest;
  for (const cdnwarm::v1::VariantResult& v : r.variants()) {
    EXPECT_EQ(v.http_status(), 200) << v.variant();
    EXPECT_EQ(v.cache_before(), cdnwarm::v1::CACHE_STATUS_MISS) << v.variant();
    EXPECT_EQ(v.cache_after(), cdnwarm::v1::CACHE_STATUS_HIT) << v.variant();
    EXPECT_EQ(v.pop(), "edge-t");
    EXPECT_EQ(v.error(), "");
    EXPECT_GE(v.layers_size(), 1);
    slowest = std::max(slowest, common::FromProtoDuration(v.total_latency()));
  }
  EXPECT_EQ(common::FromProtoDuration(r.latency()), slowest) << "the slowest variant's";
  // The canonical target went on the wire: warm and verify per variant.
  EXPECT_EQ(EdgeLogged("/static/v.js?size=5000", "/static/marker-1"), 4u) << edge_->access_log();
}

TEST_F(TaskWarmerTest, ATaskWithNoVariantsIsOnePlainGetAndItsErrorHasNoPrefix) {
  TaskWarmer warmer(*engine_, guard_, {.region = "eu"});
  WarmOutcome ok = WarmSync(warmer, Task(edge_->url("/static/plain.css")));
  EXPECT_EQ(ok.result.outcome(), cdnwarm::v1::OUTCOME_WARMED) << ok.result.error();
  ASSERT_EQ(ok.result.variants_size(), 1);
  EXPECT_EQ(ok.result.variants(0).variant(), "");

  WarmOutcome missing = WarmSync(warmer, Task(edge_->url("/status/404")));
  EXPECT_EQ(missing.ack, cdnwarm::v1::ACK_OUTCOME_FAILED);
  EXPECT_EQ(missing.result.outcome(), cdnwarm::v1::OUTCOME_FAILED);
  EXPECT_EQ(missing.result.http_status(), 404);
  EXPECT_EQ(missing.result.error(), "HTTP 404");
  ASSERT_EQ(missing.result.variants_size(), 1);
  EXPECT_EQ(missing.result.variants(0).error(), "HTTP 404");
}

// Verdicts order WARMED < UNVERIFIED < FAILED < RETRY; the first variant with the worst one
// gives the headline status, every variant that is not WARMED is named in the error, and a
// RETRY waits for the longest Retry-After of its variants.
TEST_F(TaskWarmerTest, TheWorstVariantDecidesAndRetryWaitsTheLongestRetryAfter) {
  TaskWarmer warmer(*engine_, guard_, {.region = "eu"});
  cdnwarm::v1::WarmTask task = Task(edge_->url("/answer/w.js"));
  AddVariant(&task, "ok");
  AddVariant(&task, "missing", "X-Answer", "404");
  AddVariant(&task, "busy", "X-Answer", "503");
  AddVariant(&task, "busier", "X-Answer", "429");
  WarmOutcome out = WarmSync(warmer, task);
  EXPECT_EQ(out.ack, cdnwarm::v1::ACK_OUTCOME_RETRY);
  EXPECT_EQ(out.retry_delay, absl::Seconds(9)) << "the longest, not the last";
  EXPECT_EQ(out.result.outcome(), cdnwarm::v1::OUTCOME_UNSPECIFIED) << "a retry has no outcome";
  EXPECT_EQ(out.result.http_status(), 503) << "the first variant with the worst verdict";
  EXPECT_EQ(out.result.error(), "missing: HTTP 404; busy: HTTP 503; busier: HTTP 429");
  ASSERT_EQ(out.result.variants_size(), 4);
  EXPECT_EQ(out.result.variants(0).error(), "");
  EXPECT_EQ(out.result.variants(0).cache_after(), cdnwarm::v1::CACHE_STATUS_HIT);
  EXPECT_EQ(out.result.variants(1).http_status(), 404);
  EXPECT_EQ(out.result.variants(1).error(), "HTTP 404");
  EXPECT_EQ(out.result.variants(3).http_status(), 429);

  cdnwarm::v1::WarmTask failed = Task(edge_->url("/answer/f.js"));
  AddVariant(&failed, "ok");
  AddVariant(&failed, "missing", "X-Answer", "404");
  out = WarmSync(warmer, failed);
  EXPECT_EQ(out.ack, cdnwarm::v1::ACK_OUTCOME_FAILED);
  EXPECT_EQ(out.result.outcome(), cdnwarm::v1::OUTCOME_FAILED);
  EXPECT_EQ(out.result.http_status(), 404);
  EXPECT_EQ(out.result.error(), "missing: HTTP 404");
  EXPECT_EQ(out.retry_delay, absl::ZeroDuration());
}

TEST_F(TaskWarmerTest, VerifyIsTheWarmersSettingUnlessTheTaskOverridesIt) {
  TaskWarmer verifying(*engine_, guard_, {.region = "eu", .verify = true});
  TaskWarmer trusting(*engine_, guard_, {.region = "eu", .verify = false});

  WarmOutcome out = WarmSync(verifying, Task(edge_->url("/static/o1.js")), 1, false);
  EXPECT_EQ(out.result.outcome(), cdnwarm::v1::OUTCOME_WARMED) << out.result.error();
  EXPECT_EQ(out.result.cache_before(), cdnwarm::v1::CACHE_STATUS_MISS);
  EXPECT_EQ(out.result.cache_after(), cdnwarm::v1::CACHE_STATUS_UNSPECIFIED) << "no verify GET";
  EXPECT_EQ(EdgeLogged("/static/o1.js", "/static/marker-1"), 1u);

  out = WarmSync(trusting, Task(edge_->url("/static/o2.js")));
  EXPECT_EQ(out.result.outcome(), cdnwarm::v1::OUTCOME_WARMED) << out.result.error();
  EXPECT_EQ(out.result.cache_after(), cdnwarm::v1::CACHE_STATUS_UNSPECIFIED);
  EXPECT_EQ(EdgeLogged("/static/o2.js", "/static/marker-2"), 1u);

  out = WarmSync(trusting, Task(edge_->url("/static/o3.js")), 1, true);
  EXPECT_EQ(out.result.outcome(), cdnwarm::v1::OUTCOME_WARMED) << out.result.error();
  EXPECT_EQ(out.result.cache_after(), cdnwarm::v1::CACHE_STATUS_HIT);
  EXPECT_EQ(EdgeLogged("/static/o3.js", "/static/marker-3"), 2u);

  // A HIT needs no verify GET even when verifying: o3 is in the cache now.
  out = WarmSync(verifying, Task(edge_->url("/static/o3.js")));
  EXPECT_EQ(out.result.cache_before(), cdnwarm::v1::CACHE_STATUS_HIT);
  EXPECT_EQ(out.result.outcome(), cdnwarm::v1::OUTCOME_WARMED);
  EXPECT_EQ(EdgeLogged("/static/o3.js", "/static/marker-4"), 3u);
}

TEST_F(TaskWarmerTest, FinishedAtIsReadFromTheInjectedClock) {
  testing::FakeClock clock(absl::FromUnixSeconds(1'700'000'000));
  TaskWarmer warmer(*engine_, guard_, {.region = "eu", .clock = &clock});
  WarmOutcome out = WarmSync(warmer, Task(edge_->url("/static/clocked.js")));
  EXPECT_EQ(out.result.outcome(), cdnwarm::v1::OUTCOME_WARMED) << out.result.error();
  EXPECT_EQ(common::FromProtoTimestamp(out.result.finished_at()), clock.Now());
}

// A bad URL, a host off the allow-list or without an edge pin: FAILED at once, from the
// caller's thread, naming why for every variant, and nothing is fetched.
TEST_F(TaskWarmerTest, ATaskRefusedUpFrontFailsAtOnceWithoutAFetch) {
  common::FetchGuard listed = guard_;
  listed.hosts = *common::HostAllowList::Parse({"cdn.example.test"});
  TaskWarmer warmer(*engine_, listed, {.region = "eu", .warmer_id = "w9"});
  struct Case {
    std::string url;
    std::string error;
  };
  for (const Case& c :
       {Case{"ftp://cdn.example.test/x", "url: scheme \"ftp\" is not http or https"},
        Case{edge_->url("/static/off-list.js"),
             "host \"127.0.0.1\" is not in the allowed hosts list (--allowed_hosts)"}}) {
    cdnwarm::v1::WarmTask task = Task(c.url);
    AddVariant(&task, "a");
    AddVariant(&task, "b");
    bool called = false;
    WarmOutcome out;
    warmer.Warm(task, 2, [&](WarmOutcome o) {
      called = true;
      out = std::move(o);
    });
    ASSERT_TRUE(called) << "answered before Warm returned: " << c.url;
    EXPECT_EQ(out.ack, cdnwarm::v1::ACK_OUTCOME_FAILED);
    EXPECT_EQ(out.result.outcome(), cdnwarm::v1::OUTCOME_FAILED);
    EXPECT_EQ(out.result.error(), absl::StrCat("a: ", c.error, "; b: ", c.error));
    EXPECT_EQ(out.result.http_status(), 0);
    EXPECT_EQ(out.result.region(), "eu");
    EXPECT_EQ(out.result.warmer_id(), "w9");
    EXPECT_EQ(out.result.attempts(), 2u);
    EXPECT_EQ(out.result.task_id(), "job-1/4");
    EXPECT_EQ(out.result.url(), c.url) << "as given";
    ASSERT_EQ(out.result.variants_size(), 2);
    EXPECT_EQ(out.result.variants(1).variant(), "b");
    EXPECT_EQ(out.result.variants(1).error(), c.error);
  }
  EXPECT_EQ(EdgeLogged("/static/off-list.js", "/static/marker-1"), 0u);
}

// The region is the warmer's: two regions' warmers on one engine each report their own, and
// each checks its own pins (a pin with port 0 covers every port of its host).
TEST_F(TaskWarmerTest, EachRegionReportsItselfAndChecksItsOwnPins) {
  TaskWarmer us(*engine_, guard_,
                {.region = "us", .edge_pins = {{.host = "127.0.0.1", .port = 8080}}});
  TaskWarmer eu(*engine_, guard_,
                {.region = "eu", .edge_pins = {{.host = "127.0.0.1", .port = 0}}});
  const std::string url = edge_->url("/static/region.js");

  WarmOutcome refused = WarmSync(us, Task(url));
  EXPECT_EQ(refused.result.region(), "us");
  EXPECT_EQ(refused.result.outcome(), cdnwarm::v1::OUTCOME_FAILED);
  EXPECT_EQ(refused.result.error(),
            absl::StrCat("host 127.0.0.1:", edge_->port(),
                         " has no edge pin in region us (--edge_pins): not fetched through DNS, "
                         "which may not reach this region's edge (--allow_unpinned_hosts allows "
                         "it)"));

  WarmOutcome warmed = WarmSync(eu, Task(url));
  EXPECT_EQ(warmed.result.region(), "eu");
  EXPECT_EQ(warmed.result.outcome(), cdnwarm::v1::OUTCOME_WARMED) << warmed.result.error();
  EXPECT_EQ(EdgeLogged("/static/region.js", "/static/marker-1"), 2u) << "eu's warm and verify";
}

// Vary names a header the task sets in none of its variants: the edge keeps a copy per
// value of it that the warm did not cover. A header any variant sets is covered for all.
TEST_F(TaskWarmerTest, UnvariedHeadersAreTheVaryHeadersNoVariantSets) {
  TaskWarmer warmer(*engine_, guard_, {.region = "eu"});
  WarmOutcome plain = WarmSync(warmer, Task(edge_->url("/static/vary-1.js")));
  ASSERT_EQ(plain.result.variants_size(), 1);
  EXPECT_THAT(plain.result.variants(0).unvaried_headers(), ElementsAre("accept-encoding"));

  cdnwarm::v1::WarmTask covered = Task(edge_->url("/static/vary-2.js"));
  AddVariant(&covered, "br", "Accept-Encoding", "br");
  AddVariant(&covered, "plain");
  WarmOutcome both = WarmSync(warmer, covered);
  ASSERT_EQ(both.result.variants_size(), 2);
  EXPECT_TRUE(both.result.variants(0).unvaried_headers().empty());
  EXPECT_TRUE(both.result.variants(1).unvaried_headers().empty());
}

}  // namespace
}  // namespace cdnwarm::warmer
