// HttpEngine driven directly against the Python test origin and a real nginx edge: what an
// exchange reports, the concurrency limits, the token bucket and host backoff on a FakeClock,
// adaptive limits, refusals, redirects, timeouts, the body cap and shutdown.

#include "warmer/http_engine.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/core/sync.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/fake_clock.h"
#include "tests/support/http_get.h"
#include "tests/support/nginx_server.h"

namespace cdnwarm::warmer {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kPython = CDNWARM_TEST_PYTHON;
constexpr const char* kOrigin = CDNWARM_TEST_ORIGIN;

// Collects the answers of many exchanges; waits for a count with a deadline.
class Answers {
 public:
  HttpEngine::Callback Collect() {
    return [this](HttpResponse r) {
      common::MutexLock lock(&mu_);
      all_.push_back(std::move(r));
      cv_.SignalAll();
    };
  }
  // True when at least `n` answers arrived within `timeout`.
  bool WaitFor(size_t n, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    common::MutexLock lock(&mu_);
    while (all_.size() < n) {
      if (cv_.WaitWithDeadline(&mu_, deadline)) break;
    }
    return all_.size() >= n;
  }
  size_t count() {
    common::MutexLock lock(&mu_);
    return all_.size();
  }
  std::vector<HttpResponse> Get() {
    common::MutexLock lock(&mu_);
    return all_;
  }

 private:
  common::Mutex mu_;
  common::CondVar cv_;
  std::vector<HttpResponse> all_ ABSL_GUARDED_BY(mu_);
};

// A loopback listener nobody accepts on. With backlog 0 and one connection queued (Fill),
// the kernel drops further SYNs, so a connect never completes.
class SilentListener {
 public:
  explicit SilentListener(int backlog) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(fd_, backlog);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() {
    for (int fd : fillers_) ::close(fd);
    ::close(fd_);
  }
  // Takes the one accept-queue slot of a backlog-0 listener.
  bool Fill() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fillers_.push_back(fd);
    return ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::vector<int> fillers_;
};

// A number in the origin's /stats JSON ("key": n), -1 when absent.
int StatOf(const std::string& json, const std::string& key) {
  const std::string quoted = absl::StrCat("\"", key, "\": ");
  const size_t at = json.find(quoted);
  if (at == std::string::npos) return -1;
  const size_t start = at + quoted.size();
  int v = -1;
  if (!absl::SimpleAtoi(json.substr(start, json.find_first_of(",}", start) - start), &v)) return -1;
  return v;
}

class HttpEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto origin = testing::StartTestOrigin(kPython, kOrigin, &origin_port_);
    ASSERT_TRUE(origin.ok()) << origin.status();
    origin_ = *std::move(origin);
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

  std::string Origin(const std::string& path) const {
    return absl::StrCat("http://127.0.0.1:", origin_port_, path);
  }

  std::string OriginStats() const {
    testing::HttpResult r = testing::HttpGet(Origin("/stats"));
    EXPECT_EQ(r.status, 200) << r.error;
    return r.body;
  }

  static HttpRequest Request(const std::string& url, const std::string& host = "origin") {
    HttpRequest req;
    req.url = url;
    req.host = host;
    return req;
  }

  // One exchange, waited for.
  static HttpResponse FetchOne(HttpEngine& engine, HttpRequest request) {
    Answers answers;
    engine.Fetch(std::move(request), answers.Collect());
    EXPECT_TRUE(answers.WaitFor(1, absl::Seconds(30)));
    std::vector<HttpResponse> got = answers.Get();
    return got.empty() ? HttpResponse{} : got.front();
  }

  bool Rendered(const std::string& line) const {
    return registry_.Render().find(line) != std::string::npos;
  }

  metrics::Registry registry_;
  std::unique_ptr<testing::ChildProcess> origin_;
  int origin_port_ = 0;
};

TEST_F(HttpEngineTest, CreateRefusesConcurrencyLimitsBelowOne) {
  const common::FetchGuard guard;
  metrics::Registry registry;
  EngineOptions no_total;
  no_total.max_total = 0;
  auto engine = HttpEngine::Create(no_total, guard, registry);
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine.status().message(), "concurrency limits must be at least 1");
  EngineOptions no_per_host;
  no_per_host.max_per_host = 0;
  EXPECT_EQ(HttpEngine::Create(no_per_host, guard, registry).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Many exchanges at once through a caching edge: each answers with its status, lower-case
// headers (repeated ones joined), the whole body counted against Content-Length, timings,
// the request's own headers and the engine's User-Agent on the wire.
TEST_F(HttpEngineTest, ConcurrentExchangesCompleteWithStatusHeadersBodyAndTimes) {
  const std::string root = testing::MakeTempDir("engine-edge");
  auto edge = testing::NginxServer::Start(
      root,
      absl::StrCat("location / { proxy_pass http://127.0.0.1:", origin_port_,
                   "; proxy_cache edge; proxy_http_version 1.1; proxy_set_header Connection \"\";"
                   " add_header X-Cache-Status $upstream_cache_status always;"
                   " add_header X-Dup one always; add_header X-Dup two always; }"),
      "127.0.0.1", absl::StrCat("proxy_cache_path ", root, "/cache levels=1:2 keys_zone=edge:1m;"));
  ASSERT_TRUE(edge.ok()) << edge.status();
  const common::FetchGuard guard = LoopbackAllowed();
  EngineOptions o;
  o.user_agent = "engine-test/7";
  auto engine = Engine(o, guard);
  ASSERT_NE(engine, nullptr);

  constexpr int kN = 12;
  Answers answers;
  for (int i = 0; i < kN; ++i) {
    engine->Fetch(Request((*edge)->url(absl::StrCat("/static/c-", i, ".css?size=1500")), "edge"),
                  answers.Collect());
  }
  ASSERT_TRUE(answers.WaitFor(kN, absl::Seconds(30))) << answers.count() << " of " << kN;
  for (const HttpResponse& r : answers.Get()) {
    EXPECT_EQ(r.curl_code, CURLE_OK) << r.error;
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.headers.at("x-cache-status"), "MISS");
    EXPECT_EQ(r.headers.at("x-dup"), "one, two");
    EXPECT_EQ(r.headers.at("vary"), "Accept-Encoding");
    EXPECT_EQ(r.body_bytes, 1500);
    EXPECT_EQ(r.content_length, 1500);
    EXPECT_FALSE(r.body_capped);
    EXPECT_GT(r.first_byte_time, absl::ZeroDuration());
    EXPECT_GE(r.total_time, r.first_byte_time);
  }
  EXPECT_EQ(engine->in_flight(), 0);
  EXPECT_TRUE(Rendered("cdnwarm_warmer_http_responses_total{class=\"2xx\"} 12"))
      << registry_.Render();
  EXPECT_TRUE(Rendered("cdnwarm_warmer_body_bytes_total 18000"));

  // The request's headers go out: the origin gzips when asked, and the edge caches by it.
  HttpRequest gz = Request((*edge)->url("/static/c-0.css?size=1500"), "edge");
  gz.headers.emplace_back("Accept-Encoding", "gzip");
  HttpResponse zipped = FetchOne(*engine, gz);
  EXPECT_EQ(zipped.headers["content-encoding"], "gzip");
  EXPECT_EQ(zipped.headers["x-cache-status"], "MISS") << "a variant of its own at the edge";
  EXPECT_LT(zipped.body_bytes, 1500);
  EXPECT_EQ(FetchOne(*engine, Request((*edge)->url("/static/c-0.css?size=1500"), "edge"))
                .headers["x-cache-status"],
            "HIT");
  EXPECT_THAT((*edge)->WaitForAccessLog("engine-test/7"), HasSubstr("\"engine-test/7\""));
}

TEST_F(HttpEngineTest, NoMoreThanMaxPerHostExchangesRunAtOnceForAHost) {
  const common::FetchGuard guard = LoopbackAllowed();
  EngineOptions o;
  o.max_per_host = 2;
  auto engine = Engine(o, guard);
  ASSERT_NE(engine, nullptr);
  Answers answers;
  for (int i = 0; i < 8; ++i) {
    engine->Fetch(Request(Origin(absl::StrCat("/busy?ms=200&i=", i))), answers.Collect());
  }
  ASSERT_TRUE(answers.WaitFor(8, absl::Seconds(30)));
  for (const HttpResponse& r : answers.Get()) EXPECT_EQ(r.status, 200) << r.error;
  const std::string stats = OriginStats();
  EXPECT_LE(StatOf(stats, "max_concurrent"), 2) << stats;
  EXPECT_EQ(StatOf(stats, "/busy"), 8) << stats;
}

TEST_F(HttpEngineTest, NoMoreThanMaxTotalExchangesRunAtOnceAcrossHosts) {
  const common::FetchGuard guard = LoopbackAllowed();
  EngineOptions o;
  o.max_total = 3;
  o.max_per_host = 3;
  auto engine = Engine(o, guard);
  ASSERT_NE(engine, nullptr);
  Answers answers;
  for (int i = 0; i < 9; ++i) {
    // Three hosts as the engine counts them, one origin that counts what runs at once.
    engine->Fetch(Request(Origin(absl::StrCat("/busy?ms=200&i=", i)), absl::StrCat("h", i % 3)),
                  answers.Collect());
  }
  ASSERT_TRUE(answers.WaitFor(9, absl::Seconds(30)));
  for (const HttpResponse& r : answers.Get()) EXPECT_EQ(r.status, 200) << r.error;
  const std::string stats = OriginStats();
  EXPECT_LE(StatOf(stats, "max_concurrent"), 3) << stats;
  EXPECT_EQ(StatOf(stats, "/busy"), 9) << stats;
}

TEST_F(HttpEngineTest, ARefusedConnectionIsATransportErrorAndHalvesTheHostsLimit) {
  const common::FetchGuard guard = LoopbackAllowed();
  auto engine = Engine({}, guard);
  ASSERT_NE(engine, nullptr);
  const int closed_port = testing::FreeLoopbackPort();
  HttpResponse r = FetchOne(*engine, Request(absl::StrCat("http://127.0.0.1:", closed_port, "/x")));
  EXPECT_EQ(r.curl_code, CURLE_COULDNT_CONNECT) << r.error;
  EXPECT_THAT(r.error, HasSubstr(absl::StrCat("port ", closed_port)));
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.refusal, "");
  EXPECT_FALSE(r.host_backed_off);
  EXPECT_DOUBLE_EQ(engine->host_limit("origin"), 4.0) << "8 halved";
  EXPECT_TRUE(Rendered("cdnwarm_warmer_http_responses_total{class=\"error\"} 1"))
      << registry_.Render();
  EXPECT_TRUE(Rendered("cdnwarm_warmer_host_concurrency_decreases_total 1"));
}

// The SSRF guard refuses the connect address: nothing reaches the origin, and a refusal is
// the guard's doing, not the host's, so it neither lowers the limit nor backs the host off.
TEST_F(HttpEngineTest, AConnectAddressThePolicyRefusesIsNeverContacted) {
  const common::FetchGuard guard;  // loopback refused
  EngineOptions o;
  o.failures_before_backoff = 1;
  auto engine = Engine(o, guard);
  ASSERT_NE(engine, nullptr);
  for (int i = 0; i < 2; ++i) {
    HttpResponse r = FetchOne(*engine, Request(Origin("/static/x")));
    EXPECT_THAT(r.refusal, HasSubstr("127.0.0.1")) << i;
    EXPECT_FALSE(r.host_backed_off) << i;
    EXPECT_EQ(r.status, 0);
  }
  EXPECT_DOUBLE_EQ(engine->host_limit("origin"), 8.0);
  EXPECT_EQ(StatOf(OriginStats(), "requests"), 0);
  EXPECT_TRUE(Rendered("cdnwarm_warmer_http_responses_total{class=\"refused\"} 2"))
      << registry_.Render();
}

TEST_F(HttpEngineTest, AServerThatNeverAnswersTimesOutAtTheTotalTimeout) {
  SilentListener listener(/*backlog=*/16);  // connects complete; nobody reads or answers
  const common::FetchGuard guard = LoopbackAllowed();
  EngineOptions o;
  o.connect_timeout = absl::Milliseconds(200);
  o.total_timeout = absl::Milliseconds(400);
  auto engine = Engine(o, guard);
  ASSERT_NE(engine, nullptr);
  const absl::Time start = absl::Now();
  HttpResponse r =
      FetchOne(*engine, Request(absl::StrCat("http://127.0.0.1:", listener.port(), "/hang")));
  EXPECT_EQ(r.curl_code, CURLE_OPERATION_TIMEDOUT) << r.error;
  EXPECT_THAT(r.error, HasSubstr("timed out"));
  EXPECT_EQ(r.status, 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(HttpEngineTest, AConnectNeverAcceptedTimesOutAtTheConnectTimeout) {
  SilentListener listener(/*backlog=*/0);
  ASSERT_TRUE(listener.Fill());  // the accept queue is full: the kernel drops our SYNs
  const common::FetchGuard guard = LoopbackAllowed();
  EngineOptions o;
  o.connect_timeout = absl::Milliseconds(300);
  o.total_timeout = absl::Seconds(20);
  auto engine = Engine(o, guard);
  ASSERT_NE(engine, nullptr);
  const absl::Time start = absl::Now();
  HttpResponse r =
      FetchOne(*engine, Request(absl::StrCat("http://127.0.0.1:", listener.port(), "/never")));
  EXPECT_EQ(r.curl_code, CURLE_OPERATION_TIMEDOUT) << r.error;
  EXPECT_EQ(r.status, 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << "the connect timeout, not the total one";
}

// Failures lower the limit (at most once a second of the clock) and, after
// failures_before_backoff in a row, back the whole host off for 1 s, doubling up to
// max_host_backoff; requests then are answered at once, unsent.
TEST_F(HttpEngineTest, RepeatedFailuresBackTheHostOffUntilTheClockPasses) {
  testing::FakeClock clock;
  const common::FetchGuard guard = LoopbackAllowed();
  EngineOptions o;
  o.max_per_host = 8;
  o.failures_before_backoff = 2;
  o.max_host_backoff = absl::Milliseconds(1500);
  o.clock = &clock;
  auto engine = Engine(o, guard);
  ASSERT_NE(engine, nullptr);

  EXPECT_EQ(FetchOne(*engine, Request(Origin("/status/503"))).status, 503);
  EXPECT_DOUBLE_EQ(engine->host_limit("origin"), 4.0);
  EXPECT_EQ(FetchOne(*engine, Request(Origin("/status/503"))).status, 503);
  EXPECT_DOUBLE_EQ(engine->host_limit("origin"), 4.0) << "one decrease per second";

  HttpResponse off = FetchOne(*engine, Request(Origin("/status/503")));
  EXPECT_TRUE(off.host_backed_off);
  EXPECT_EQ(off.backoff_left, absl::Seconds(1));
  EXPECT_EQ(off.error, "host origin is backed off after repeated failures");
  EXPECT_EQ(off.status, 0);
  EXPECT_EQ(StatOf(OriginStats(), "/status/503"), 2) << "the backed-off request was not sent";

  clock.Advance(absl::Seconds(1));
  EXPECT_EQ(FetchOne(*engine, Request(Origin("/status/503"))).status, 503);
  EXPECT_DOUBLE_EQ(engine->host_limit("origin"), 2.0);
  off = FetchOne(*engine, Request(Origin("/status/503")));
  EXPECT_TRUE(off.host_backed_off);
  EXPECT_EQ(off.backoff_left, absl::Milliseconds(1500)) << "2 s, capped by max_host_backoff";

  // Another host is not affected.
  EXPECT_EQ(FetchOne(*engine, Request(Origin("/static/y"), "other")).status, 200);

  clock.Advance(absl::Milliseconds(1500));
  HttpResponse ok = FetchOne(*engine, Request(Origin("/static/z")));
  EXPECT_EQ(ok.status, 200);
  EXPECT_DOUBLE_EQ(engine->host_limit("origin"), 2.5) << "additive increase: 1/limit";
  EXPECT_EQ(StatOf(OriginStats(), "/status/503"), 3);
  EXPECT_TRUE(Rendered("cdnwarm_warmer_host_backoffs_total 2")) << registry_.Render();
  EXPECT_TRUE(Rendered("cdnwarm_warmer_http_responses_total{class=\"backoff\"} 2"));
  EXPECT_TRUE(Rendered("cdnwarm_warmer_http_responses_total{class=\"5xx\"} 3"));
}

// A slow first byte is origin distress: the limit halves, but it is no failure, so the host
// is not backed off however many there are.
TEST_F(HttpEngineTest, ASlowFirstByteHalvesTheLimitWithoutBackingOff) {
  testing::FakeClock clock;
  const common::FetchGuard guard = LoopbackAllowed();
  EngineOptions o;
  o.slow_first_byte = absl::Milliseconds(300);
  o.failures_before_backoff = 1;
  o.clock = &clock;
  auto engine = Engine(o, guard);
  ASSERT_NE(engine, nullptr);
  HttpResponse slow = FetchOne(*engine, Request(Origin("/slow?ms=800")));
  EXPECT_EQ(slow.status, 200);
  EXPECT_GT(slow.first_byte_time, absl::Milliseconds(300));
  EXPECT_DOUBLE_EQ(engine->host_limit("origin"), 4.0);
  EXPECT_FALSE(FetchOne(*engine, Request(Origin("/slow?ms=800"))).host_backed_off);
  EXPECT_EQ(FetchOne(*engine, Request(Origin("/static/fast"))).status, 200);
  EXPECT_DOUBLE_EQ(engine->host_limit("origin"), 4.25);
}

TEST_F(HttpEngineTest, ABodyOverTheCapIsReportedCappedAndIsNoHostFailure) {
  const common::FetchGuard guard = LoopbackAllowed();
  EngineOptions o;
  o.max_body_bytes = 100;
  auto engine = Engine(o, guard);
  ASSERT_NE(engine, nullptr);
  HttpResponse r = FetchOne(*engine, Request(Origin("/static/big?size=5000")));
  EXPECT_TRUE(r.body_capped);
  EXPECT_EQ(r.body_bytes, 100);
  EXPECT_EQ(r.content_length, 5000);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.curl_code, CURLE_WRITE_ERROR);
  EXPECT_EQ(r.error, "") << "capped is not a transport error";
  EXPECT_DOUBLE_EQ(engine->host_limit("origin"), 8.0);
}

// host_rate 1/s with a burst of 2: two start at once, then one per second of the clock.
TEST_F(HttpEngineTest, TheTokenBucketPacesAHostByTheClock) {
  testing::FakeClock clock;
  const common::FetchGuard guard = LoopbackAllowed();
  EngineOptions o;
  o.host_rate = 1;
  o.host_burst = 2;
  o.clock = &clock;
  Answers paced;
  auto engine = Engine(o, guard);
  ASSERT_NE(engine, nullptr);
  for (int i = 0; i < 4; ++i) {
    engine->Fetch(Request(Origin(absl::StrCat("/static/paced-", i))), paced.Collect());
  }
  ASSERT_TRUE(paced.WaitFor(2, absl::Seconds(30)));
  // Another host has a bucket of its own.
  EXPECT_EQ(FetchOne(*engine, Request(Origin("/static/elsewhere"), "other")).status, 200);
  EXPECT_FALSE(paced.WaitFor(3, absl::Milliseconds(500))) << "no token until the clock moves";
  clock.Advance(absl::Seconds(1));
  ASSERT_TRUE(paced.WaitFor(3, absl::Seconds(30)));
  EXPECT_FALSE(paced.WaitFor(4, absl::Milliseconds(500)));
  clock.Advance(absl::Seconds(1));
  ASSERT_TRUE(paced.WaitFor(4, absl::Seconds(30)));
  for (const HttpResponse& r : paced.Get()) EXPECT_EQ(r.status, 200) << r.error;
  // cdnwarm_warmer_queued_seconds, on the same clock: three exchanges started at once, the
  // third paced one after 1 s, the fourth after 2 s.
  EXPECT_TRUE(Rendered("cdnwarm_warmer_queued_seconds_count 5\n")) << registry_.Render();
  EXPECT_TRUE(Rendered("cdnwarm_warmer_queued_seconds_bucket{le=\"0.0005\"} 3\n"))
      << registry_.Render();
  EXPECT_TRUE(Rendered("cdnwarm_warmer_queued_seconds_bucket{le=\"0.512\"} 3\n"))
      << registry_.Render();
  EXPECT_TRUE(Rendered("cdnwarm_warmer_queued_seconds_bucket{le=\"1.024\"} 4\n"))
      << registry_.Render();
  EXPECT_TRUE(Rendered("cdnwarm_warmer_queued_seconds_bucket{le=\"2.048\"} 5\n"))
      << registry_.Render();
}

TEST_F(HttpEngineTest, DestroyingTheEngineAnswersWhatRunsAndWhatIsQueued) {
  const common::FetchGuard guard = LoopbackAllowed();
  EngineOptions o;
  o.max_per_host = 1;
  Answers answers;
  auto engine = Engine(o, guard);
  ASSERT_NE(engine, nullptr);
  for (int i = 0; i < 3; ++i) {
    engine->Fetch(Request(Origin(absl::StrCat("/slow?ms=10000&i=", i))), answers.Collect());
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (engine->in_flight() < 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));  // polling a condition with a deadline
  }
  ASSERT_EQ(engine->in_flight(), 1) << "one running, two queued behind max_per_host";
  const absl::Time start = absl::Now();
  engine.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5)) << "not waiting for the 10 s answer";
  ASSERT_EQ(answers.count(), 3u) << "every callback ran before the destructor returned";
  for (const HttpResponse& r : answers.Get()) {
    EXPECT_EQ(r.curl_code, CURLE_ABORTED_BY_CALLBACK);
    EXPECT_EQ(r.error, "the warmer is shutting down");
    EXPECT_EQ(r.status, 0);
  }
}

TEST_F(HttpEngineTest, AnEdgePinSendsTheHostToItsEdgeWhateverDnsSays) {
  auto edge = testing::StartCachingEdge(origin_port_, "127.0.0.1", "pinned-edge");
  ASSERT_TRUE(edge.ok()) << edge.status();
  const common::FetchGuard guard = LoopbackAllowed();
  EngineOptions o;
  o.connect_to = {absl::StrCat("cdn.example.test:80:127.0.0.1:", (*edge)->port())};
  auto engine = Engine(o, guard);
  ASSERT_NE(engine, nullptr);
  HttpResponse r =
      FetchOne(*engine, Request("http://cdn.example.test/static/pinned.css", "cdn.example.test"));
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.headers["x-served-by"], "pinned-edge");
  EXPECT_THAT((*edge)->WaitForAccessLog("/static/pinned.css"), HasSubstr("/static/pinned.css"));
}

TEST_F(HttpEngineTest, RedirectsAreAnsweredAsTheyAreUnlessTheGuardFollowsThem) {
  const common::FetchGuard off = LoopbackAllowed();
  auto engine = Engine({}, off);
  ASSERT_NE(engine, nullptr);
  HttpResponse r = FetchOne(*engine, Request(Origin("/redirect?to=/static/r")));
  EXPECT_EQ(r.status, 302);
  EXPECT_EQ(r.headers["location"], "/static/r");
  EXPECT_EQ(StatOf(OriginStats(), "/static/r"), -1) << "not followed";

  common::FetchGuard on = LoopbackAllowed();
  on.follow_redirects = true;
  auto following = Engine({}, on);
  ASSERT_NE(following, nullptr);
  r = FetchOne(*following, Request(Origin("/redirect?to=/static/r")));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.count("location"), 0u) << "the headers are the last response's";
  EXPECT_EQ(r.headers["vary"], "Accept-Encoding");

  common::FetchGuard listed = LoopbackAllowed();
  listed.follow_redirects = true;
  listed.hosts = *common::HostAllowList::Parse({"127.0.0.1"});
  auto strict = Engine({}, listed);
  ASSERT_NE(strict, nullptr);
  r = FetchOne(*strict, Request(Origin("/redirect?to=http://elsewhere.test/x")));
  EXPECT_THAT(r.refusal, StartsWith("redirect refused: "));
  EXPECT_THAT(r.refusal, HasSubstr("elsewhere.test"));
  EXPECT_EQ(r.status, 302);
  EXPECT_DOUBLE_EQ(strict->host_limit("origin"), 8.0) << "a refusal is no host failure";
}

}  // namespace
}  // namespace cdnwarm::warmer
