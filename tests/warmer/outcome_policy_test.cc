// Decide and Prove, on answers built as an edge sends them (headers parsed by
// ParseCacheStatus): what each exchange means for the task.

#include "warmer/outcome_policy.h"

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "warmer/cache_status.h"

namespace cdnwarm::warmer {
namespace {

using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

HttpResponse Answer(long status, HeaderMap headers = {}) {
  HttpResponse r;
  r.status = status;
  r.headers = std::move(headers);
  r.body_bytes = 10;
  r.content_length = 10;
  return r;
}

Decision DecideOn(const HttpResponse& r) { return Decide(r, ParseCacheStatus(r.headers), kNow); }

TEST(OutcomePolicyTest, DecideSortsAnswersIntoFetchedRetryAndFailed) {
  EXPECT_EQ(DecideOn(Answer(200, {{"x-cache", "MISS"}})).verdict, Verdict::kWarmed);
  EXPECT_EQ(DecideOn(Answer(304)).verdict, Verdict::kWarmed);
  for (long s : {500L, 503L, 408L, 429L}) EXPECT_EQ(DecideOn(Answer(s)).verdict, Verdict::kRetry);
  for (long s : {301L, 404L, 403L}) EXPECT_EQ(DecideOn(Answer(s)).verdict, Verdict::kFailed);
  EXPECT_THAT(DecideOn(Answer(302)).reason, HasSubstr("redirect"));

  HttpResponse cut = Answer(200);
  cut.body_bytes = 4;
  EXPECT_EQ(DecideOn(cut).verdict, Verdict::kRetry) << "a body cut short is not warm";
  HttpResponse capped = Answer(200);
  capped.body_capped = true;
  EXPECT_EQ(DecideOn(capped).verdict, Verdict::kFailed);
  HttpResponse refused = Answer(0);
  refused.refusal = "10.0.0.1 is in a private range";
  EXPECT_THAT(DecideOn(refused).reason, HasSubstr("refused before connecting"));
  HttpResponse transport = Answer(0);
  transport.curl_code = CURLE_COULDNT_CONNECT;
  transport.error = "connection refused";
  EXPECT_EQ(DecideOn(transport).verdict, Verdict::kRetry);
  EXPECT_EQ(DecideOn(Answer(200, {{"cache-control", "no-store"}})).verdict, Verdict::kFailed);
}

TEST(OutcomePolicyTest, RetryAfterIsHonouredAndBounded) {
  EXPECT_EQ(DecideOn(Answer(503, {{"retry-after", "7"}})).retry_delay, absl::Seconds(7));
  EXPECT_EQ(DecideOn(Answer(429, {{"retry-after", "999999"}})).retry_delay, absl::Hours(1));
  EXPECT_EQ(ParseRetryAfter(
                {{"retry-after", "Fri, 15 Jan 2027 08:00:30 GMT"}},
                absl::FromCivil(absl::CivilSecond(2027, 1, 15, 8, 0, 0), absl::UTCTimeZone())),
            absl::Seconds(30));
  EXPECT_EQ(ParseRetryAfter({{"retry-after", "soon"}}, kNow), absl::ZeroDuration());
}

TEST(OutcomePolicyTest, OnlyAHitProvesWarm) {
  const CacheReport hit = ParseCacheStatus({{"x-cache", "HIT"}});
  const CacheReport miss = ParseCacheStatus({{"x-cache", "MISS"}});
  const CacheReport none = ParseCacheStatus({});
  Decision fetched;
  fetched.verdict = Verdict::kWarmed;
  Decision retry;
  retry.verdict = Verdict::kRetry;
  EXPECT_FALSE(NeedsVerify(fetched, hit));
  EXPECT_TRUE(NeedsVerify(fetched, miss));
  EXPECT_FALSE(NeedsVerify(retry, miss));

  EXPECT_EQ(Prove(hit, nullptr, nullptr).verdict, Verdict::kWarmed);
  const HttpResponse verify_hit = Answer(200, {{"x-cache", "HIT"}});
  const CacheReport verify_hit_cache = ParseCacheStatus(verify_hit.headers);
  EXPECT_EQ(Prove(miss, &verify_hit, &verify_hit_cache).verdict, Verdict::kWarmed);

  const HttpResponse verify_miss = Answer(200, {{"x-cache", "MISS"}});
  const CacheReport verify_miss_cache = ParseCacheStatus(verify_miss.headers);
  const Decision kept_nothing = Prove(miss, &verify_miss, &verify_miss_cache);
  EXPECT_EQ(kept_nothing.verdict, Verdict::kFailed);
  EXPECT_THAT(kept_nothing.reason, HasSubstr("did not keep"));

  const HttpResponse verify_plain = Answer(200);
  const CacheReport verify_plain_cache = ParseCacheStatus({});
  EXPECT_EQ(Prove(none, &verify_plain, &verify_plain_cache).verdict, Verdict::kUnverified);
  EXPECT_EQ(Prove(none, nullptr, nullptr).verdict, Verdict::kUnverified);

  HttpResponse verify_failed = Answer(0);
  verify_failed.curl_code = CURLE_OPERATION_TIMEDOUT;
  verify_failed.error = "timeout";
  EXPECT_EQ(Prove(miss, &verify_failed, &verify_plain_cache).verdict, Verdict::kRetry);
}

TEST(OutcomePolicyTest, WithoutVerifyAStoringMissIsWarmAndAForwardWithoutStoreIsNot) {
  EXPECT_EQ(Prove(ParseCacheStatus({{"x-cache", "MISS"}}), nullptr, nullptr).verdict,
            Verdict::kWarmed);
  const CacheReport fwd = ParseCacheStatus({{"cache-status", "edge; fwd=uri-miss"}});
  EXPECT_EQ(Prove(fwd, nullptr, nullptr).verdict, Verdict::kFailed);
  const CacheReport stored = ParseCacheStatus({{"cache-status", "edge; fwd=uri-miss; stored"}});
  EXPECT_EQ(Prove(stored, nullptr, nullptr).verdict, Verdict::kWarmed);
}

TEST(OutcomePolicyTest, VerdictsAreOrderedWorstLast) {
  EXPECT_LT(Verdict::kWarmed, Verdict::kUnverified);
  EXPECT_LT(Verdict::kUnverified, Verdict::kFailed);
  EXPECT_LT(Verdict::kFailed, Verdict::kRetry);
  EXPECT_STREQ(VerdictName(Verdict::kUnverified), "UNVERIFIED");
}

}  // namespace
}  // namespace cdnwarm::warmer
