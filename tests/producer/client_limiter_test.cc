// ClientRateLimiter: a token bucket per client, with time as an input.

#include "producer/client_limiter.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cdnwarm::producer {
namespace {

using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

TEST(ClientRateLimiterTest, NoRateIsUnlimited) {
  ClientRateLimiter l(0, 0);
  EXPECT_FALSE(l.enabled());
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(l.TryTake("", 1000, kT0).ok());
  EXPECT_EQ(l.Take("", 1e9, kT0), absl::ZeroDuration());
}

TEST(ClientRateLimiterTest, ABurstThenTheRateAndEachClientHasItsOwnBucket) {
  ClientRateLimiter l(/*rate=*/10, /*burst=*/5);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(l.TryTake("ip:a", 1, kT0).ok()) << i;
  const absl::Status over = l.TryTake("ip:a", 1, kT0);
  EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(over.message(), HasSubstr("10"));
  EXPECT_TRUE(l.TryTake("ip:b", 5, kT0).ok()) << "another client's bucket is full";
  // 10 per second: after 100 ms one more token.
  EXPECT_TRUE(l.TryTake("ip:a", 1, kT0 + absl::Milliseconds(100)).ok());
  EXPECT_FALSE(l.TryTake("ip:a", 1, kT0 + absl::Milliseconds(100)).ok());
  // Never above the burst, however long the client was idle.
  EXPECT_TRUE(l.TryTake("ip:a", 5, kT0 + absl::Hours(1)).ok());
  EXPECT_FALSE(l.TryTake("ip:a", 1, kT0 + absl::Hours(1)).ok());
}

TEST(ClientRateLimiterTest, TakeGoesIntoDebtAndSaysHowLongToWait) {
  ClientRateLimiter l(/*rate=*/100, /*burst=*/10);
  EXPECT_EQ(l.Take("cn:pipeline", 10, kT0), absl::ZeroDuration());
  // 50 more than it holds: half a second at 100/s.
  EXPECT_EQ(l.Take("cn:pipeline", 50, kT0), absl::Milliseconds(500));
  // The debt is paid back by time, not forgiven.
  EXPECT_FALSE(l.TryTake("cn:pipeline", 1, kT0 + absl::Milliseconds(400)).ok());
  EXPECT_TRUE(l.TryTake("cn:pipeline", 1, kT0 + absl::Milliseconds(510)).ok());
}

}  // namespace
}  // namespace cdnwarm::producer
