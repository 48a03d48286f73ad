// common::Mutex, MutexLock and CondVar (sync.h), and the injected clock (clock.h).

#include "common/core/sync.h"

#include <thread>

#include "absl/time/clock.h"
#include "common/core/clock.h"
#include "gtest/gtest.h"
#include "tests/support/fake_clock.h"

namespace cdnwarm::common {
namespace {

TEST(SyncTest, AWaitEndsWhenSignalledAndSeesTheChange) {
  Mutex mu;
  CondVar cv;
  bool ready = false;
  std::thread t([&] {
    MutexLock lock(&mu);
    ready = true;
    cv.SignalAll();
  });
  {
    MutexLock lock(&mu);
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (!ready) {
      if (cv.WaitWithDeadline(&mu, deadline)) break;
    }
    EXPECT_TRUE(ready);
  }
  t.join();
}

TEST(SyncTest, AWaitWithADeadlineInThePastTimesOutAndKeepsTheLock) {
  Mutex mu;
  CondVar cv;
  MutexLock lock(&mu);
  EXPECT_TRUE(cv.WaitWithDeadline(&mu, absl::Now() - absl::Seconds(1)));
  EXPECT_TRUE(cv.WaitWithTimeout(&mu, absl::ZeroDuration()));
}

TEST(ClockTest, TheRealClockIsTheProcesssAndAFakeOneMovesOnlyWhenTold) {
  const absl::Time before = absl::Now();
  const absl::Time now = Clock::Real().Now();
  EXPECT_GE(now, before);
  cdnwarm::testing::FakeClock fake(absl::FromUnixSeconds(100));
  const Clock& clock = fake;
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(100));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(100));
  fake.Advance(absl::Minutes(5));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(400));
}

}  // namespace
}  // namespace cdnwarm::common
