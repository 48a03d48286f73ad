// The warming engine against real nginx edges (proxy_cache in front of a scripted origin):
// warmed means a plain GET at the edge is then a HIT, for every variant; edges are pinned;
// retries, failures, the SSRF guard and origin protection behave as the policy says.

#include <memory>
#include <mutex>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/fetch/url_canon.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/http_get.h"
#include "tests/support/nginx_server.h"
#include "tests/support/notification.h"
#include "tests/support/varnish_server.h"
#include "warmer/task_warmer.h"

namespace cdnwarm::warmer {
namespace {

using ::testing::HasSubstr;

constexpr const char* kPython = CDNWARM_TEST_PYTHON;
constexpr const char* kOrigin = CDNWARM_TEST_ORIGIN;

// An nginx edge in front of the origin. Besides `/`, locations that behave as real edges
// do when they cannot prove a warm (each maps to the origin's /static/):
//   /nostore/  says MISS every time and keeps nothing (a cache that does not store);
//   /bare/     is not a cache at all: no cache header in the answer;
//   /split/    refuses Accept-Encoding: br (403) and caches the rest;
//   /half-silent/  caches, but says so only to requests with an X-Show-Cache header;
//   /rfc9211/  speaks RFC 9211 Cache-Status only (`edge; hit`, `edge; fwd=uri-miss; stored`);
//   /rfc9211-nostore/  RFC 9211 for a cache that forwards and does not store.
std::string EdgeConf(int origin_port, const std::string& name) {
  const std::string upstream = absl::StrCat("http://127.0.0.1:", origin_port);
  const std::string cache = R"(
      proxy_cache edge;
      proxy_cache_valid 200 10m;
      proxy_http_version 1.1;
      proxy_set_header Connection "";)";
  return absl::StrCat(R"(
    add_header X-Served-By )",
                      name, R"( always;
    location / {
      proxy_pass )",
                      upstream, ";", cache, R"(
      add_header X-Cache-Status $upstream_cache_status always;
      add_header X-Served-By )",
                      name, R"( always;
    }
    location /nostore/ {
      proxy_pass )",
                      upstream, "/static/;", cache, R"(
      proxy_no_cache 1;
      add_header X-Cache-Status $upstream_cache_status always;
    }
    location /bare/ {
      proxy_pass )",
                      upstream, R"(/static/;
    }
    location /split/ {
      if ($http_accept_encoding = "br") { return 403; }
      proxy_pass )",
                      upstream, "/static/;", cache, R"(
      add_header X-Cache-Status $upstream_cache_status always;
    }
    location /half-silent/ {
      proxy_pass )",
                      upstream, "/static/;", cache, R"(
      add_header X-Cache-Status $status_if_asked always;
    }
    location /rfc9211/ {
      proxy_pass )",
                      upstream, "/static/;", cache, R"(
      add_header Cache-Status $rfc9211_status always;
    }
    location /rfc9211-nostore/ {
      proxy_pass )",
                      upstream, "/static/;", cache, R"(
      proxy_no_cache 1;
      add_header Cache-Status "edge; fwd=uri-miss" always;
    })");
}

constexpr const char* kEdgeHttpConf = R"(
  map $http_x_show_cache $status_if_asked {
    "" "";
    default $upstream_cache_status;
  }
  map $upstream_cache_status $rfc9211_status {
    HIT "edge; hit";
    MISS "edge; fwd=uri-miss; stored";
    default "edge; fwd=bypass";
  })";

class WarmerIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto origin = testing::StartTestOrigin(kPython, kOrigin, &origin_port_);
    ASSERT_TRUE(origin.ok()) << origin.status();
    origin_ = *std::move(origin);
  }

  std::unique_ptr<testing::NginxServer> StartEdge(const std::string& host,
                                                  const std::string& name) {
    const std::string root = testing::MakeTempDir("edge");
    auto edge = testing::NginxServer::Start(
        root, EdgeConf(origin_port_, name), host,
        absl::StrCat("proxy_cache_path ", root, "/cache levels=1:2 keys_zone=edge:1m;",
                     kEdgeHttpConf));
    EXPECT_TRUE(edge.ok()) << edge.status();
    return edge.ok() ? *std::move(edge) : nullptr;
  }

  std::unique_ptr<HttpEngine> Engine(EngineOptions options, const common::FetchGuard& guard) {
    auto engine = HttpEngine::Create(std::move(options), guard, registry_);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? *std::move(engine) : nullptr;
  }

  static common::FetchGuard LoopbackAllowed() {
    common::FetchGuard g;
    g.addresses = *common::AddressPolicy::Create({"127.0.0.0/8"});
    return g;
  }

  static WarmOutcome WarmSync(TaskWarmer& warmer, const cdnwarm::v1::WarmTask& task) {
    testing::Notification done;
    WarmOutcome out;
    warmer.Warm(task, 1, [&](WarmOutcome o) {
      out = std::move(o);
      done.Notify();
    });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(60)));
    return out;
  }

  static cdnwarm::v1::WarmTask Task(const std::string& url) {
    cdnwarm::v1::WarmTask t;
    t.set_task_id("j/0");
    t.set_job_id("j");
    t.set_url(url);
    return t;
  }

  static void AddVariant(cdnwarm::v1::WarmTask* t, const std::string& name,
                         const std::string& accept_encoding) {
    auto* v = t->add_variants();
    v->set_name(name);
    if (!accept_encoding.empty()) {
      auto* h = v->add_headers();
      h->set_name("Accept-Encoding");
      h->set_value(accept_encoding);
    }
  }

  // A plain GET (what a user's browser would send) through an engine of its own.
  HttpResponse PlainGet(const std::string& url, const std::string& accept_encoding,
                        const std::vector<std::string>& pins = {}) {
    common::FetchGuard guard = LoopbackAllowed();
    EngineOptions o;
    o.connect_to = pins;
    auto engine = Engine(o, guard);
    testing::Notification done;
    HttpResponse out;
    HttpRequest req;
    req.url = url;
    req.host = "plain";
    if (!accept_encoding.empty()) req.headers.emplace_back("Accept-Encoding", accept_encoding);
    engine->Fetch(req, [&](HttpResponse r) {
      out = std::move(r);
      done.Notify();
    });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
    return out;
  }

  metrics::Registry registry_;
  std::unique_ptr<testing::ChildProcess> origin_;
  int origin_port_ = 0;
};

TEST_F(WarmerIntegrationTest, WarmedUrlIsAHitAtTheEdgeForEveryVariant) {
  auto edge = StartEdge("127.0.0.1", "edge-a");
  ASSERT_NE(edge, nullptr);
  const common::FetchGuard guard = LoopbackAllowed();
  auto engine = Engine({}, guard);
  TaskWarmer warmer(*engine, guard, {.region = "eu", .warmer_id = "w1", .verify = true});

  cdnwarm::v1::WarmTask task = Task(edge->url("/static/app.js?size=5000"));
  AddVariant(&task, "gzip", "gzip");
  AddVariant(&task, "br", "br");
  AddVariant(&task, "identity", "");
  WarmOutcome out = WarmSync(warmer, task);
  ASSERT_EQ(out.ack, cdnwarm::v1::ACK_OUTCOME_WARMED) << out.result.error();
  EXPECT_EQ(out.result.outcome(), cdnwarm::v1::OUTCOME_WARMED);
  EXPECT_EQ(out.result.region(), "eu");
  ASSERT_EQ(out.result.variants_size(), 3);
  for (const auto& v : out.result.variants()) {
    EXPECT_EQ(v.http_status(), 200) << v.variant();
    EXPECT_EQ(v.cache_before(), cdnwarm::v1::CACHE_STATUS_MISS) << v.variant();
    EXPECT_EQ(v.cache_after(), cdnwarm::v1::CACHE_STATUS_HIT) << v.variant() << " (verify)";
    EXPECT_EQ(v.pop(), "edge-a");
    EXPECT_GT(v.body_bytes(), 0);
    EXPECT_TRUE(v.unvaried_headers().empty()) << v.variant();
  }
  // What a user then gets, per encoding, from a GET of its own.
  for (const std::string ae : {"gzip", "br", ""}) {
    HttpResponse r = PlainGet(task.url(), ae);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.headers["x-cache-status"], "HIT") << "Accept-Encoding: " << ae;
  }
  // A variant nobody warmed is still a MISS: the edge caches per Accept-Encoding.
  EXPECT_EQ(PlainGet(task.url(), "deflate").headers["x-cache-status"], "MISS");
}

// The edge keys its cache on the request target; a browser sends the WHATWG form, escapes
// as written (never decoded, case kept) and an empty query kept. The warmer's GET, as the
// edge's access log shows it, is exactly that target.
TEST_F(WarmerIntegrationTest, TheEdgeSeesExactlyTheCanonicalTarget) {
  auto edge = StartEdge("127.0.0.1", "edge-a");
  ASSERT_NE(edge, nullptr);
  const common::FetchGuard guard = LoopbackAllowed();
  auto engine = Engine({}, guard);
  TaskWarmer warmer(*engine, guard, {.region = "eu", .warmer_id = "w1"});
  struct Sent {
    std::string input;   // what a publisher gives
    std::string target;  // what a browser sends for it
  };
  for (const Sent& c : {Sent{"/static/foo%41%7a%2Ehtml", "/static/foo%41%7a%2Ehtml"},
                        Sent{"/static/a/%2e%2E/b%3a.css?x=%7e", "/static/b%3a.css?x=%7e"},
                        Sent{"/static/q.js?", "/static/q.js?"},
                        Sent{"/static/q.js?a'b c#frag", "/static/q.js?a%27b%20c"}}) {
    absl::StatusOr<common::CanonicalUrl> url = common::CanonicalizeUrl(edge->url(c.input));
    ASSERT_TRUE(url.ok()) << url.status();
    WarmOutcome out = WarmSync(warmer, Task(url->url));
    EXPECT_EQ(out.ack, cdnwarm::v1::ACK_OUTCOME_WARMED) << c.input << ": " << out.result.error();
    const std::string line = absl::StrCat("\"GET ", c.target, " HTTP/");
    EXPECT_THAT(edge->WaitForAccessLog(line), HasSubstr(line)) << c.input;
  }
}

// WARMED is proof: a HIT, or a verify request answered HIT right after a MISS. A cache
// that answers MISS and keeps nothing is not warmed, whatever its first answer said.
TEST_F(WarmerIntegrationTest, AMissTheEdgeDoesNotKeepIsNotWarmed) {
  auto edge = StartEdge("127.0.0.1", "edge-a");
  ASSERT_NE(edge, nullptr);
  const common::FetchGuard guard = LoopbackAllowed();
  auto engine = Engine({}, guard);
  TaskWarmer warmer(*engine, guard, {.region = "eu", .warmer_id = "w1"});  // verify: default

  WarmOutcome out = WarmSync(warmer, Task(edge->url("/nostore/kept-nowhere.js")));
  EXPECT_EQ(out.ack, cdnwarm::v1::ACK_OUTCOME_FAILED) << out.result.error();
  EXPECT_EQ(out.result.outcome(), cdnwarm::v1::OUTCOME_FAILED);
  EXPECT_EQ(out.result.cache_before(), cdnwarm::v1::CACHE_STATUS_MISS);
  EXPECT_EQ(out.result.cache_after(), cdnwarm::v1::CACHE_STATUS_MISS);
  EXPECT_THAT(out.result.error(),
              HasSubstr("verify request right after the warm was MISS (HTTP 200; the warm was "
                        "MISS): the edge did not keep the object"));
  // Both GETs reached the edge and were logged (nginx logs a request once it answered).
  const std::string line = "\"GET /nostore/kept-nowhere.js HTTP/1.1\" 200";
  const auto logged = [&] {
    return std::vector<std::string>(absl::StrSplit(edge->access_log(), line)).size() - 1;
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (logged() < 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));  // polling a condition with a deadline
  }
  EXPECT_EQ(logged(), 2u) << "the warm and the verify: " << edge->access_log();

  // The same edge, a path it does store: MISS, then the verify HIT proves it.
  WarmOutcome kept = WarmSync(warmer, Task(edge->url("/static/kept.js")));
  EXPECT_EQ(kept.result.outcome(), cdnwarm::v1::OUTCOME_WARMED) << kept.result.error();
  EXPECT_EQ(kept.result.cache_after(), cdnwarm::v1::CACHE_STATUS_HIT);
  EXPECT_EQ(kept.result.error(), "");
}

// A 2xx with no cache information is UNVERIFIED, with verification on or off.
TEST_F(WarmerIntegrationTest, AnAnswerWithNoCacheInformationIsUnverified) {
  auto edge = StartEdge("127.0.0.1", "edge-a");
  ASSERT_NE(edge, nullptr);
  const common::FetchGuard guard = LoopbackAllowed();
  auto engine = Engine({}, guard);
  for (const bool verify : {true, false}) {
    TaskWarmer warmer(*engine, guard, {.region = "eu", .verify = verify});
    const std::string path = absl::StrCat("/bare/no-cache-info-", verify, ".css");
    WarmOutcome out = WarmSync(warmer, Task(edge->url(path)));
    EXPECT_EQ(out.ack, cdnwarm::v1::ACK_OUTCOME_UNVERIFIED) << "verify " << verify;
    EXPECT_EQ(out.result.outcome(), cdnwarm::v1::OUTCOME_UNVERIFIED);
    EXPECT_EQ(out.result.http_status(), 200);
    EXPECT_EQ(out.result.cache_before(), cdnwarm::v1::CACHE_STATUS_UNKNOWN);
    EXPECT_THAT(out.result.error(), HasSubstr("no cache information"));
    EXPECT_THAT(edge->WaitForAccessLog(path), HasSubstr(path));
  }
  // Verification off: a MISS still counts as stored, as the edge's own word.
  TaskWarmer trusting(*engine, guard, {.region = "eu", .verify = false});
  WarmOutcome miss = WarmSync(trusting, Task(edge->url("/static/trusted.css")));
  EXPECT_EQ(miss.result.outcome(), cdnwarm::v1::OUTCOME_WARMED) << miss.result.error();
  EXPECT_EQ(miss.result.cache_after(), cdnwarm::v1::CACHE_STATUS_UNSPECIFIED);
}

// The task's outcome in a region is its worst variant's, and its headline numbers are that
// variant's.
TEST_F(WarmerIntegrationTest, TheWorstVariantIsTheTasksOutcome) {
  auto edge = StartEdge("127.0.0.1", "edge-a");
  ASSERT_NE(edge, nullptr);
  const common::FetchGuard guard = LoopbackAllowed();
  auto engine = Engine({}, guard);
  TaskWarmer warmer(*engine, guard, {.region = "eu"});

  cdnwarm::v1::WarmTask failed = Task(edge->url("/split/one.js"));
  AddVariant(&failed, "gzip", "gzip");
  AddVariant(&failed, "br", "br");
  WarmOutcome out = WarmSync(warmer, failed);
  EXPECT_EQ(out.result.outcome(), cdnwarm::v1::OUTCOME_FAILED);
  EXPECT_EQ(out.result.http_status(), 403) << "the br variant's";
  EXPECT_EQ(out.result.error(), "br: HTTP 403");
  ASSERT_EQ(out.result.variants_size(), 2);
  EXPECT_EQ(out.result.variants(0).cache_after(), cdnwarm::v1::CACHE_STATUS_HIT);

  // Variants that are each proven, or each without cache information.
  cdnwarm::v1::WarmTask proven_task = Task(edge->url("/static/two.js"));
  AddVariant(&proven_task, "gzip", "gzip");
  WarmOutcome proven = WarmSync(warmer, proven_task);
  EXPECT_EQ(proven.result.outcome(), cdnwarm::v1::OUTCOME_WARMED) << proven.result.error();
  cdnwarm::v1::WarmTask bare = Task(edge->url("/bare/two.js"));
  AddVariant(&bare, "gzip", "gzip");
  AddVariant(&bare, "identity", "");
  WarmOutcome unproven = WarmSync(warmer, bare);
  EXPECT_EQ(unproven.result.outcome(), cdnwarm::v1::OUTCOME_UNVERIFIED);
  EXPECT_THAT(unproven.result.error(), HasSubstr("gzip: no cache information"));

  // One task, one variant proven and one with no cache information: UNVERIFIED, not
  // WARMED, and the headline is the unproven variant's.
  cdnwarm::v1::WarmTask mixed = Task(edge->url("/half-silent/three.js"));
  cdnwarm::v1::RequestVariant* told = mixed.add_variants();
  told->set_name("told");
  told->add_headers()->set_name("X-Show-Cache");
  told->mutable_headers(0)->set_value("1");
  mixed.add_variants()->set_name("silent");
  WarmOutcome half = WarmSync(warmer, mixed);
  EXPECT_EQ(half.result.outcome(), cdnwarm::v1::OUTCOME_UNVERIFIED) << half.result.error();
  ASSERT_EQ(half.result.variants_size(), 2);
  EXPECT_EQ(half.result.variants(0).cache_after(), cdnwarm::v1::CACHE_STATUS_HIT) << "told";
  EXPECT_EQ(half.result.cache_before(), cdnwarm::v1::CACHE_STATUS_UNKNOWN) << "silent's";
  EXPECT_THAT(half.result.error(), HasSubstr("silent: no cache information"));
  EXPECT_THAT(half.result.error(), ::testing::Not(HasSubstr("told:")));
}

// RFC 9211 Cache-Status from a real nginx: `fwd=uri-miss; stored` then `hit` is a warm; a
// cache that forwards and does not say `stored` is not, with or without verification.
TEST_F(WarmerIntegrationTest, Rfc9211CacheStatusFromARealEdge) {
  auto edge = StartEdge("127.0.0.1", "edge-a");
  ASSERT_NE(edge, nullptr);
  const common::FetchGuard guard = LoopbackAllowed();
  auto engine = Engine({}, guard);
  TaskWarmer warmer(*engine, guard, {.region = "eu"});
  WarmOutcome out = WarmSync(warmer, Task(edge->url("/rfc9211/a.js")));
  EXPECT_EQ(out.result.outcome(), cdnwarm::v1::OUTCOME_WARMED) << out.result.error();
  EXPECT_EQ(out.result.cache_before(), cdnwarm::v1::CACHE_STATUS_MISS);
  EXPECT_EQ(out.result.cache_after(), cdnwarm::v1::CACHE_STATUS_HIT);
  ASSERT_GE(out.result.variants(0).layers_size(), 1);
  EXPECT_EQ(out.result.variants(0).layers(0).name(), "edge");
  EXPECT_EQ(out.result.variants(0).layers(0).raw(), "edge; fwd=uri-miss; stored");

  TaskWarmer trusting(*engine, guard, {.region = "eu", .verify = false});
  WarmOutcome not_stored = WarmSync(trusting, Task(edge->url("/rfc9211-nostore/b.js")));
  EXPECT_EQ(not_stored.result.outcome(), cdnwarm::v1::OUTCOME_FAILED);
  EXPECT_THAT(not_stored.result.error(), HasSubstr("did not store the response"));
  WarmOutcome verified = WarmSync(warmer, Task(edge->url("/rfc9211-nostore/b.js")));
  EXPECT_EQ(verified.result.outcome(), cdnwarm::v1::OUTCOME_FAILED);
  EXPECT_THAT(verified.result.error(), HasSubstr("did not keep the object"));
}

// Varnish, as it comes (built-in VCL): X-Varnish names one transaction on a miss and two
// on a hit; Age says nothing on a fresh hit. Its access log (varnishncsa) shows the warm
// and the verify.
TEST_F(WarmerIntegrationTest, AVarnishEdgeIsProvenByItsOwnHeaders) {
  auto varnish = testing::VarnishServer::Start(origin_port_, "127.0.0.1");
  ASSERT_TRUE(varnish.ok()) << varnish.status();
  const common::FetchGuard guard = LoopbackAllowed();
  auto engine = Engine({}, guard);
  TaskWarmer warmer(*engine, guard, {.region = "eu"});
  const std::string url = (*varnish)->url("/static/varnish.js?size=3000");
  WarmOutcome out = WarmSync(warmer, Task(url));
  EXPECT_EQ(out.result.outcome(), cdnwarm::v1::OUTCOME_WARMED) << out.result.error();
  EXPECT_EQ(out.result.cache_before(), cdnwarm::v1::CACHE_STATUS_MISS);
  EXPECT_EQ(out.result.cache_after(), cdnwarm::v1::CACHE_STATUS_HIT);
  EXPECT_EQ(out.result.variants(0).pop(), "varnish") << "from Via";
  const std::string line = "GET " + url + " HTTP/1.1\" 200 ";
  EXPECT_THAT((*varnish)->WaitForAccessLog(line + "hit"), HasSubstr(line + "miss"));
  EXPECT_THAT((*varnish)->access_log(), HasSubstr(line + "hit"));
  // What a user then gets.
  HttpResponse again = PlainGet(url, "");
  EXPECT_THAT(again.headers["x-varnish"], ::testing::MatchesRegex("[0-9]+ [0-9]+"));
}

// A Fastly-shaped edge (a shield and an edge, `X-Cache: MISS, HIT`), built on Varnish: the
// outermost entry is the edge's, so a shield MISS under an edge HIT is a HIT.
TEST_F(WarmerIntegrationTest, AFastlyShapedEdgeIsReadOutermostLast) {
  auto varnish = testing::VarnishServer::Start(origin_port_, "127.0.0.1",
                                               absl::StrCat(R"(
vcl 4.1;
backend origin { .host = "127.0.0.1"; .port = ")",
                                                            origin_port_,
                                                            R"("; }
sub vcl_deliver {
  set resp.http.X-Served-By = "cache-shield-FRA, cache-edge-AMS";
  if (obj.hits > 0) { set resp.http.X-Cache = "MISS, HIT"; } else { set resp.http.X-Cache = "MISS, MISS"; }
  unset resp.http.X-Varnish;
  unset resp.http.Age;
}
)"));
  ASSERT_TRUE(varnish.ok()) << varnish.status();
  const common::FetchGuard guard = LoopbackAllowed();
  auto engine = Engine({}, guard);
  TaskWarmer warmer(*engine, guard, {.region = "eu"});
  WarmOutcome out = WarmSync(warmer, Task((*varnish)->url("/static/fastly.js")));
  EXPECT_EQ(out.result.outcome(), cdnwarm::v1::OUTCOME_WARMED) << out.result.error();
  EXPECT_EQ(out.result.cache_before(), cdnwarm::v1::CACHE_STATUS_MISS);
  EXPECT_EQ(out.result.cache_after(), cdnwarm::v1::CACHE_STATUS_HIT);
  ASSERT_EQ(out.result.variants(0).layers_size(), 2);
  EXPECT_EQ(out.result.variants(0).pop(), "cache-edge-AMS");
  EXPECT_THAT((*varnish)->WaitForAccessLog("fastly.js HTTP/1.1\" 200 hit"),
              HasSubstr("fastly.js HTTP/1.1\" 200 miss"));
}

TEST_F(WarmerIntegrationTest, EachRegionWarmsOnlyItsPinnedEdge) {
  auto edge_a = StartEdge("127.0.0.2", "edge-a");
  auto edge_b = StartEdge("127.0.0.3", "edge-b");
  ASSERT_NE(edge_a, nullptr);
  ASSERT_NE(edge_b, nullptr);
  const common::FetchGuard guard = LoopbackAllowed();
  // One URL host that resolves nowhere; each region's pin decides where it goes.
  const std::string url = "http://cdn.example.test/static/pinned.css";
  EngineOptions a_opts, b_opts;
  a_opts.connect_to = {absl::StrCat("cdn.example.test:80:127.0.0.2:", edge_a->port())};
  b_opts.connect_to = {absl::StrCat("cdn.example.test:80:127.0.0.3:", edge_b->port())};
  auto engine_a = Engine(a_opts, guard);
  auto engine_b = Engine(b_opts, guard);
  TaskWarmer region_a(*engine_a, guard, {.region = "eu"});
  TaskWarmer region_b(*engine_b, guard, {.region = "us"});

  WarmOutcome a = WarmSync(region_a, Task(url + "?r=a"));
  ASSERT_EQ(a.ack, cdnwarm::v1::ACK_OUTCOME_WARMED) << a.result.error();
  EXPECT_EQ(a.result.variants(0).pop(), "edge-a");
  // nginx logs a request after answering it: wait for the line, with a deadline.
  EXPECT_THAT(edge_a->WaitForAccessLog("/static/pinned.css?r=a"),
              HasSubstr("/static/pinned.css?r=a"));

  WarmOutcome b = WarmSync(region_b, Task(url + "?r=b"));
  ASSERT_EQ(b.ack, cdnwarm::v1::ACK_OUTCOME_WARMED) << b.result.error();
  EXPECT_EQ(b.result.variants(0).pop(), "edge-b");
  EXPECT_THAT(edge_b->WaitForAccessLog("/static/pinned.css?r=b"),
              HasSubstr("/static/pinned.css?r=b"));
  // Each edge has logged its own request; neither saw the other region's.
  EXPECT_THAT(edge_a->access_log(), ::testing::Not(HasSubstr("?r=b")));
  EXPECT_THAT(edge_b->access_log(), ::testing::Not(HasSubstr("?r=a")));
}

// With pins, a host no pin covers finished as that region's result wherever DNS sent it.
// Now it is FAILED naming the host, and not fetched, unless --allow_unpinned_hosts.
TEST_F(WarmerIntegrationTest, AHostWithNoPinIsNotFetchedThroughDns) {
  auto edge = StartEdge("127.0.0.2", "edge-a");
  ASSERT_NE(edge, nullptr);
  const common::FetchGuard guard = LoopbackAllowed();
  EngineOptions pinned;
  pinned.connect_to = {absl::StrCat("cdn.example.test:80:127.0.0.2:", edge->port())};
  auto engine = Engine(pinned, guard);
  // The edge itself by address: DNS (here a literal) would reach it, but no pin says so.
  const std::string unpinned = edge->url("/static/unpinned.css");
  TaskWarmer strict(*engine, guard,
                    {.region = "eu", .edge_pins = {{.host = "cdn.example.test", .port = 80}}});
  WarmOutcome out = WarmSync(strict, Task(unpinned));
  EXPECT_EQ(out.result.outcome(), cdnwarm::v1::OUTCOME_FAILED);
  EXPECT_EQ(out.result.error(),
            absl::StrCat("host 127.0.0.2:", edge->port(),
                         " has no edge pin in region eu (--edge_pins): not fetched through DNS, "
                         "which may not reach this region's edge (--allow_unpinned_hosts allows "
                         "it)"));
  EXPECT_EQ(out.result.http_status(), 0);
  // The pinned host still goes to its edge.
  WarmOutcome ok = WarmSync(strict, Task("http://cdn.example.test/static/pinned-too.css"));
  EXPECT_EQ(ok.result.outcome(), cdnwarm::v1::OUTCOME_WARMED) << ok.result.error();
  EXPECT_THAT(edge->WaitForAccessLog("/static/pinned-too.css"), HasSubstr("pinned-too.css"));
  EXPECT_THAT(edge->access_log(), ::testing::Not(HasSubstr("unpinned.css")));
  // Allowed explicitly: fetched where the address points.
  TaskWarmer lenient(*engine, guard,
                     {.region = "eu",
                      .edge_pins = {{.host = "cdn.example.test", .port = 80}},
                      .allow_unpinned = true});
  WarmOutcome fetched = WarmSync(lenient, Task(unpinned));
  EXPECT_EQ(fetched.result.outcome(), cdnwarm::v1::OUTCOME_WARMED) << fetched.result.error();
  EXPECT_THAT(edge->WaitForAccessLog("unpinned.css"), HasSubstr("unpinned.css"));
}

TEST_F(WarmerIntegrationTest, OutcomePolicyRetryThenWarmedFailedAndTimeouts) {
  const common::FetchGuard guard = LoopbackAllowed();
  EngineOptions o;
  o.total_timeout = absl::Seconds(1);
  auto engine = Engine(o, guard);
  TaskWarmer warmer(*engine, guard, {.region = "eu"});
  const std::string origin = absl::StrCat("http://127.0.0.1:", origin_port_);

  WarmOutcome first = WarmSync(warmer, Task(origin + "/flaky/a?fail=1&retry_after=7"));
  EXPECT_EQ(first.ack, cdnwarm::v1::ACK_OUTCOME_RETRY);
  EXPECT_EQ(first.retry_delay, absl::Seconds(7)) << "Retry-After honoured";
  EXPECT_THAT(first.result.error(), HasSubstr("HTTP 503"));
  WarmOutcome second = WarmSync(warmer, Task(origin + "/flaky/a?fail=1&retry_after=7"));
  // Fetched whole from the origin itself, which says nothing about a cache.
  EXPECT_EQ(second.ack, cdnwarm::v1::ACK_OUTCOME_UNVERIFIED) << second.result.error();

  WarmOutcome missing = WarmSync(warmer, Task(origin + "/status/404"));
  EXPECT_EQ(missing.ack, cdnwarm::v1::ACK_OUTCOME_FAILED);
  EXPECT_EQ(missing.result.http_status(), 404);
  EXPECT_EQ(WarmSync(warmer, Task(origin + "/status/429")).ack, cdnwarm::v1::ACK_OUTCOME_RETRY);
  EXPECT_EQ(WarmSync(warmer, Task(origin + "/status/408")).ack, cdnwarm::v1::ACK_OUTCOME_RETRY);

  const absl::Time start = absl::Now();
  WarmOutcome slow = WarmSync(warmer, Task(origin + "/slow?ms=10000"));
  EXPECT_EQ(slow.ack, cdnwarm::v1::ACK_OUTCOME_RETRY);
  EXPECT_THAT(slow.result.error(), HasSubstr("transport"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5)) << "bounded by the 1 s timeout";

  WarmOutcome mine = WarmSync(warmer, Task(origin + "/private"));
  EXPECT_EQ(mine.ack, cdnwarm::v1::ACK_OUTCOME_FAILED) << "uncacheable is not success";
  EXPECT_THAT(mine.result.error(), HasSubstr("not cacheable"));
}

TEST_F(WarmerIntegrationTest, PrivateAddressesAreRefusedBeforeAnyByteIsSent) {
  const common::FetchGuard guard;  // no allowance
  auto engine = Engine({}, guard);
  TaskWarmer warmer(*engine, guard, {.region = "eu"});
  for (const std::string& url :
       {absl::StrCat("http://127.0.0.1:", origin_port_, "/static/x"),
        std::string("http://10.0.0.1/static/x"), std::string("http://169.254.169.254/latest/"),
        absl::StrCat("http://[::1]:", origin_port_, "/static/x"),
        absl::StrCat("http://localhost:", origin_port_, "/static/x")}) {
    WarmOutcome out = WarmSync(warmer, Task(url));
    EXPECT_EQ(out.ack, cdnwarm::v1::ACK_OUTCOME_FAILED) << url;
    EXPECT_THAT(out.result.error(), HasSubstr("refused")) << url;
  }
  // The origin counts requests: none arrived (the stats request itself is not counted).
  testing::HttpResult stats =
      testing::HttpGet(absl::StrCat("http://127.0.0.1:", origin_port_, "/stats"));
  EXPECT_EQ(stats.status, 200);
  EXPECT_THAT(stats.body, HasSubstr("\"requests\": 0,"));
}

TEST_F(WarmerIntegrationTest, RedirectsOnlyWhenEnabledAndEveryHopIsChecked) {
  const std::string origin = absl::StrCat("http://127.0.0.1:", origin_port_);
  common::FetchGuard off = LoopbackAllowed();
  auto engine = Engine({}, off);
  TaskWarmer warmer(*engine, off, {.region = "eu"});
  WarmOutcome out = WarmSync(warmer, Task(origin + "/redirect?to=/static/r"));
  EXPECT_EQ(out.ack, cdnwarm::v1::ACK_OUTCOME_FAILED);
  EXPECT_THAT(out.result.error(), HasSubstr("redirect"));

  common::FetchGuard on = LoopbackAllowed();
  on.follow_redirects = true;
  on.hosts = *common::HostAllowList::Parse({"127.0.0.1"});
  auto following = Engine({}, on);
  TaskWarmer follower(*following, on, {.region = "eu"});
  out = WarmSync(follower, Task(origin + "/redirect?to=/static/r"));
  // Followed and fetched whole; the origin has no cache to prove it stored.
  EXPECT_EQ(out.ack, cdnwarm::v1::ACK_OUTCOME_UNVERIFIED) << out.result.error();
  out = WarmSync(follower, Task(origin + "/redirect?to=http://elsewhere.test/x"));
  EXPECT_EQ(out.ack, cdnwarm::v1::ACK_OUTCOME_FAILED);
  EXPECT_THAT(out.result.error(), HasSubstr("redirect refused"));
  on.hosts = common::HostAllowList();
  out = WarmSync(follower, Task(origin + "/redirect?to=http://169.254.169.254/latest/"));
  EXPECT_EQ(out.ack, cdnwarm::v1::ACK_OUTCOME_FAILED);
  EXPECT_THAT(out.result.error(), HasSubstr("169.254.169.254"));
}

// Fires `n` GETs of `path` at the origin through `engine` and waits for all answers.
std::vector<HttpResponse> FetchMany(HttpEngine& engine, int origin_port, const std::string& path,
                                    int n) {
  std::mutex mu;
  std::vector<HttpResponse> out;
  testing::Notification all;
  for (int i = 0; i < n; ++i) {
    HttpRequest req;
    req.url = absl::StrCat("http://127.0.0.1:", origin_port, path, "&i=", i);
    req.host = "127.0.0.1";
    engine.Fetch(req, [&, n](HttpResponse r) {
      bool last = false;
      {
        std::lock_guard<std::mutex> lock(mu);
        out.push_back(std::move(r));
        last = static_cast<int>(out.size()) == n;
      }
      // After the lock is released: the waiter returns and `mu` goes with it.
      if (last) all.Notify();
    });
  }
  EXPECT_TRUE(all.WaitForNotificationWithTimeout(absl::Seconds(60)));
  return out;
}

int StatOf(const std::string& json, const std::string& key) {
  const size_t at = json.find("\"" + key + "\": ");
  int v = -1;
  if (at != std::string::npos) {
    absl::SimpleAtoi(
        json.substr(at + key.size() + 4, json.find_first_of(",}", at) - at - key.size() - 4), &v);
  }
  return v;
}

TEST_F(WarmerIntegrationTest, PerHostConcurrencyAndRateHoldAndConcurrencyDropsOn503) {
  const common::FetchGuard guard = LoopbackAllowed();
  EngineOptions o;
  o.max_per_host = 4;
  o.host_rate = 20;
  o.host_burst = 5;
  o.failures_before_backoff = 8;
  auto engine = Engine(o, guard);

  std::vector<HttpResponse> ok = FetchMany(*engine, origin_port_, "/busy?ms=150", 60);
  for (const HttpResponse& r : ok) EXPECT_EQ(r.status, 200) << r.error;
  testing::HttpResult stats =
      testing::HttpGet(absl::StrCat("http://127.0.0.1:", origin_port_, "/stats"));
  const int max_concurrent = StatOf(stats.body, "max_concurrent");
  const int max_per_second = StatOf(stats.body, "max_per_second");
  EXPECT_GE(max_concurrent, 2) << stats.body;
  EXPECT_LE(max_concurrent, 4) << stats.body;
  EXPECT_LE(max_per_second, 20 + 5) << "rate plus burst, in any one-second window: " << stats.body;
  EXPECT_DOUBLE_EQ(engine->host_limit("127.0.0.1"), 4.0);

  // The origin starts failing: the host's concurrency limit halves, and after enough
  // consecutive failures the host is backed off as a whole instead of hammered.
  std::vector<HttpResponse> busy = FetchMany(*engine, origin_port_, "/overloaded?ms=50", 40);
  EXPECT_LT(engine->host_limit("127.0.0.1"), 4.0);
  int backed_off = 0;
  for (const HttpResponse& r : busy) backed_off += r.host_backed_off ? 1 : 0;
  EXPECT_GT(backed_off, 0);
  stats = testing::HttpGet(absl::StrCat("http://127.0.0.1:", origin_port_, "/stats"));
  const int overloaded_requests = StatOf(stats.body, "/overloaded");
  EXPECT_LT(overloaded_requests, 40) << "backoff spared the origin";
  EXPECT_EQ(overloaded_requests + backed_off, 40);
}

}  // namespace
}  // namespace cdnwarm::warmer
