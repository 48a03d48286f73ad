// Cache status as real CDNs and caches send it. Each case is a header set seen in the wild
// (Fastly, Akamai, CloudFront, Cloudflare, nginx, Varnish, RFC 9211 multi-layer).

#include "warmer/cache_status.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cdnwarm::warmer {
namespace {

using cdnwarm::v1::CacheStatus;
constexpr CacheStatus kHit = cdnwarm::v1::CACHE_STATUS_HIT;
constexpr CacheStatus kMiss = cdnwarm::v1::CACHE_STATUS_MISS;
constexpr CacheStatus kStale = cdnwarm::v1::CACHE_STATUS_STALE;
constexpr CacheStatus kExpired = cdnwarm::v1::CACHE_STATUS_EXPIRED;
constexpr CacheStatus kBypass = cdnwarm::v1::CACHE_STATUS_BYPASS;
constexpr CacheStatus kUnknown = cdnwarm::v1::CACHE_STATUS_UNKNOWN;

struct Case {
  std::string name;
  HeaderMap headers;
  CacheStatus edge;
  size_t layers;
  bool cacheable = true;
};

class CacheStatusTest : public ::testing::TestWithParam<Case> {};

TEST_P(CacheStatusTest, Classifies) {
  const Case& c = GetParam();
  const CacheReport r = ParseCacheStatus(c.headers);
  EXPECT_EQ(CacheStatusName(r.edge), std::string(CacheStatusName(c.edge)));
  EXPECT_EQ(r.layers.size(), c.layers);
  EXPECT_EQ(r.cacheable, c.cacheable) << r.not_cacheable_reason;
}

INSTANTIATE_TEST_SUITE_P(
    RealHeaders, CacheStatusTest,
    ::testing::Values(
        // Fastly: shield then edge.
        Case{"fastly_miss_then_hit", {{"x-cache", "MISS, HIT"}, {"x-cache-hits", "0, 1"}}, kHit, 2},
        Case{"fastly_hit_then_miss", {{"x-cache", "HIT, MISS"}}, kMiss, 2},
        Case{"fastly_single_hit",
             {{"x-cache", "HIT"}, {"x-served-by", "cache-fra19120-FRA"}},
             kHit,
             1},
        // Akamai (Pragma: akamai-x-cache-on).
        Case{"akamai_tcp_hit",
             {{"x-cache",
               "TCP_HIT from a23-45-67-89.deploy.akamaitechnologies.com (AkamaiGHost/10.10.0-1)"}},
             kHit,
             1},
        Case{"akamai_mem_hit",
             {{"x-cache", "TCP_MEM_HIT from a1.deploy.akamaitechnologies.com (AkamaiGHost/9.9)"}},
             kHit,
             1},
        Case{"akamai_tcp_miss",
             {{"x-cache", "TCP_MISS from a1.deploy.akamaitechnologies.com (AkamaiGHost/9.9)"}},
             kMiss,
             1},
        Case{"akamai_refresh_miss",
             {{"x-cache", "TCP_REFRESH_MISS from a1.deploy.akamaitechnologies.com"}},
             kExpired,
             1},
        Case{"akamai_refresh_hit",
             {{"x-cache", "TCP_REFRESH_HIT from a1.deploy.akamaitechnologies.com"}},
             kExpired,
             1},
        // CloudFront.
        Case{"cloudfront_hit",
             {{"x-cache", "Hit from cloudfront"}, {"x-amz-cf-pop", "FRA56-P1"}},
             kHit,
             1},
        Case{"cloudfront_miss", {{"x-cache", "Miss from cloudfront"}}, kMiss, 1},
        Case{"cloudfront_refresh_hit", {{"x-cache", "RefreshHit from cloudfront"}}, kExpired, 1},
        Case{"cloudfront_error", {{"x-cache", "Error from cloudfront"}}, kUnknown, 1},
        // Cloudflare.
        Case{"cloudflare_hit", {{"cf-cache-status", "HIT"}, {"age", "120"}}, kHit, 2},
        Case{"cloudflare_miss", {{"cf-cache-status", "MISS"}}, kMiss, 1},
        Case{"cloudflare_dynamic", {{"cf-cache-status", "DYNAMIC"}}, kBypass, 1, false},
        Case{"cloudflare_bypass", {{"cf-cache-status", "BYPASS"}}, kBypass, 1, false},
        Case{"cloudflare_revalidated", {{"cf-cache-status", "REVALIDATED"}}, kExpired, 1},
        Case{"cloudflare_updating", {{"cf-cache-status", "UPDATING"}}, kStale, 1},
        // nginx $upstream_cache_status.
        Case{"nginx_hit", {{"x-cache-status", "HIT"}}, kHit, 1},
        Case{"nginx_miss", {{"x-cache-status", "MISS"}}, kMiss, 1},
        Case{"nginx_expired", {{"x-cache-status", "EXPIRED"}}, kExpired, 1},
        Case{"nginx_stale", {{"x-cache-status", "STALE"}}, kStale, 1},
        Case{"nginx_bypass", {{"x-cache-status", "BYPASS"}}, kBypass, 1, false},
        // Varnish.
        Case{"varnish_hit_count",
             {{"x-cache", "HIT: 3"}, {"via", "1.1 varnish (Varnish/7.1)"}},
             kHit,
             1},
        Case{"varnish_miss_age_zero", {{"x-cache", "MISS"}, {"age", "0"}}, kMiss, 2},
        // Varnish as it comes: X-Varnish names this transaction, and the one that stored
        // the object on a hit; Age is 0 on a fresh hit.
        Case{"varnish_builtin_miss", {{"x-varnish", "32770"}, {"age", "0"}}, kMiss, 2},
        Case{"varnish_builtin_hit", {{"x-varnish", "32773 32771"}, {"age", "0"}}, kHit, 2},
        // RFC 9211 Cache-Status, origin side first, client side last.
        Case{"rfc9211_two_layers",
             {{"cache-status",
               "OriginCache; hit; ttl=1100, \"CDN Company Here\"; fwd=uri-miss; stored"}},
             kMiss,
             2},
        Case{"rfc9211_edge_hit",
             {{"cache-status", "ReverseProxy; fwd=uri-miss; stored, ExampleCDN; hit"}},
             kHit,
             2},
        Case{"rfc9211_stale_hit", {{"cache-status", "ExampleCache; hit; ttl=-30"}}, kStale, 1},
        Case{"rfc9211_fwd_stale",
             {{"cache-status", "ExampleCache; fwd=stale; fwd-status=304"}},
             kExpired,
             1},
        Case{"rfc9211_bypass", {{"cache-status", "ExampleCache; fwd=bypass"}}, kBypass, 1, false},
        Case{"rfc9211_wins_over_x_cache",
             {{"cache-status", "Edge; hit"}, {"x-cache", "MISS"}},
             kHit,
             2},
        // Only Age, or nothing.
        Case{"age_only", {{"age", "42"}}, kHit, 1},
        Case{"no_cache_headers", {{"content-type", "text/html"}}, kUnknown, 0},
        // Uncacheable by Cache-Control even with a MISS.
        Case{"private_response",
             {{"x-cache-status", "MISS"}, {"cache-control", "private, max-age=60"}},
             kMiss,
             1,
             false},
        Case{"no_store_response", {{"cache-control", "no-store"}}, kUnknown, 0, false},
        // No substring matching: these are not HITs.
        Case{"not_a_hit_substring", {{"x-cache", "TCP_REFRESH_FAIL_MISS_HITLESS"}}, kUnknown, 1}),
    [](const ::testing::TestParamInfo<Case>& p) { return p.param.name; });

// RFC 9211: a cache that forwarded the request says `stored` when it kept the response.
TEST(CacheStatusStoredTest, ForwardedWithoutStoredIsNotStored) {
  EXPECT_FALSE(ParseCacheStatus({{"cache-status", "Edge; fwd=uri-miss; stored"}}).edge_not_stored);
  EXPECT_FALSE(ParseCacheStatus({{"cache-status", "Edge; fwd=miss; stored=?1"}}).edge_not_stored);
  EXPECT_TRUE(ParseCacheStatus({{"cache-status", "Edge; fwd=uri-miss"}}).edge_not_stored);
  EXPECT_TRUE(ParseCacheStatus({{"cache-status", "Edge; fwd=miss; stored=?0"}}).edge_not_stored);
  // Only the client-side entry counts: here the edge hit.
  EXPECT_FALSE(
      ParseCacheStatus({{"cache-status", "Origin; fwd=uri-miss, Edge; hit"}}).edge_not_stored);
  EXPECT_FALSE(ParseCacheStatus({{"x-cache", "MISS"}}).edge_not_stored);
}

TEST(PopTest, NamesTheEdgeThatAnswered) {
  EXPECT_EQ(ParsePop({{"x-amz-cf-pop", "FRA56-P1"}}), "FRA56-P1");
  EXPECT_EQ(ParsePop({{"x-served-by", "cache-fra19120-FRA, cache-lhr7331-LHR"}}),
            "cache-lhr7331-LHR");
  EXPECT_EQ(ParsePop({{"cf-ray", "7d1c2f8a9b3c4d5e-AMS"}}), "AMS");
  EXPECT_EQ(ParsePop({{"via", "1.1 varnish, 1.1 abc123.cloudfront.net (CloudFront)"}}),
            "abc123.cloudfront.net");
  EXPECT_EQ(ParsePop({{"content-type", "text/html"}}), "");
}

// Found by cache_status_fuzz: an empty or all-comma header read past an empty list.
TEST(PopTest, BlankHeadersFallThroughToTheNextSource) {
  EXPECT_EQ(ParsePop({{"x-amz-cf-pop", ""}}), "");
  EXPECT_EQ(ParsePop({{"x-amz-cf-pop", " , "}, {"cf-ray", "7d1c-AMS"}}), "AMS");
  EXPECT_EQ(ParsePop({{"x-served-by", ","}, {"via", ","}}), "");
}

TEST(VaryTest, ReportsHeadersTheRequestDidNotVary) {
  EXPECT_THAT(UnvariedHeaders({{"vary", "Accept-Encoding, User-Agent"}}, {"accept-encoding"}),
              ::testing::ElementsAre("user-agent"));
  EXPECT_TRUE(UnvariedHeaders({{"vary", "accept-encoding"}}, {"Accept-Encoding"}).empty());
  EXPECT_THAT(UnvariedHeaders({{"vary", "*"}}, {}), ::testing::ElementsAre("*"));
}

}  // namespace
}  // namespace cdnwarm::warmer
