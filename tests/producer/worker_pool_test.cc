// WorkerPool: work runs on the pool's threads; beyond the bounded queue it is refused.

#include "producer/worker_pool.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/support/notification.h"

namespace cdnwarm::producer {
namespace {

TEST(WorkerPoolTest, RunsWorkOffTheCallersThread) {
  WorkerPool pool(2, 16);
  cdnwarm::testing::Notification ran;
  std::thread::id where;
  ASSERT_TRUE(pool.TrySubmit([&] {
    where = std::this_thread::get_id();
    ran.Notify();
  }));
  ASSERT_TRUE(ran.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_NE(where, std::this_thread::get_id());
}

TEST(WorkerPoolTest, ABusyPoolQueuesUpToItsBoundAndRefusesTheRest) {
  WorkerPool pool(1, 2);
  cdnwarm::testing::Notification started, release;
  ASSERT_TRUE(pool.TrySubmit([&] {
    started.Notify();
    release.WaitForNotificationWithTimeout(absl::Seconds(60));
  }));
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(absl::Seconds(30)));
  std::atomic<int> done{0};
  cdnwarm::testing::Notification both;
  auto count = [&] {
    if (++done == 2) both.Notify();
  };
  EXPECT_TRUE(pool.TrySubmit(count));
  EXPECT_TRUE(pool.TrySubmit(count));
  EXPECT_FALSE(pool.TrySubmit(count)) << "the one worker is busy and two already wait";
  release.Notify();
  ASSERT_TRUE(both.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(done, 2) << "the refused work never ran";
}

TEST(WorkerPoolTest, DestructionRunsWhatWasQueued) {
  std::atomic<int> done{0};
  {
    WorkerPool pool(1, 8);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(pool.TrySubmit([&] { ++done; }));
  }
  EXPECT_EQ(done, 5);
}

}  // namespace
}  // namespace cdnwarm::producer
