#include "common/core/admin_http.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/http_get.h"

namespace cdnwarm::common {
namespace {

using ::cdnwarm::testing::HttpGet;
using ::testing::HasSubstr;

class AdminHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.AddCounter("cdnwarm_test_total", "A test counter.").Get().Increment(4);
    auto server = HttpServer::Start("127.0.0.1:0", AdminRoutes(registry_, readiness_));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  std::string Url(absl::string_view path) {
    return absl::StrCat("http://127.0.0.1:", server_->port(), path);
  }

  metrics::Registry registry_;
  Readiness readiness_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(AdminHttpTest, ServesMetricsInTextFormat) {
  const auto r = HttpGet(Url("/metrics"));
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(r.body, HasSubstr("# TYPE cdnwarm_test_total counter\ncdnwarm_test_total 4\n"));
}

TEST_F(AdminHttpTest, HealthzIsAliveEvenWhenNotReady) {
  readiness_.Set("kafka", false);
  EXPECT_EQ(HttpGet(Url("/healthz")).status, 200);
}

TEST_F(AdminHttpTest, ReadyzFollowsEveryCondition) {
  EXPECT_EQ(HttpGet(Url("/readyz")).status, 200);
  readiness_.Set("kafka", false);
  readiness_.Set("subscribed", false);
  auto r = HttpGet(Url("/readyz"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "not ready: kafka, subscribed\n");
  readiness_.Set("kafka", true);
  r = HttpGet(Url("/readyz?verbose=1"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "not ready: subscribed\n");
  readiness_.Set("subscribed", true);
  EXPECT_EQ(HttpGet(Url("/readyz")).status, 200);
}

TEST_F(AdminHttpTest, UnknownPathIs404) {
  const auto r = HttpGet(Url("/nope"));
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.body, HasSubstr("/metrics"));
}

TEST_F(AdminHttpTest, OnlyGetAndHead) {
  const auto r = cdnwarm::testing::HttpSend("POST", Url("/metrics"), "x");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(cdnwarm::testing::HttpSend("HEAD", Url("/healthz"), "").status, 200);
}

}  // namespace
}  // namespace cdnwarm::common
