// PartitionTracker: the commit point never passes an unfinished offset, whatever the order
// acks arrive in.

#include "streamer-bridge/partition_tracker.h"

#include "gtest/gtest.h"

namespace cdnwarm::bridge {
namespace {

TEST(PartitionTrackerTest, NothingReadCommitsNothing) {
  PartitionTracker t;
  EXPECT_EQ(t.CommitPoint(), -1);
  EXPECT_EQ(t.unfinished(), 0u);
}

TEST(PartitionTrackerTest, TheCommitPointIsTheLowestUnfinishedOffset) {
  PartitionTracker t;
  for (int64_t o = 10; o < 15; ++o) t.Started(o);
  EXPECT_EQ(t.CommitPoint(), 10);
  t.Finished(12);
  t.Finished(14);
  EXPECT_EQ(t.CommitPoint(), 10) << "10 is still out: nothing past it may be committed";
  t.Finished(10);
  EXPECT_EQ(t.CommitPoint(), 11);
  t.Finished(11);
  EXPECT_EQ(t.CommitPoint(), 13);
  t.Finished(13);
  EXPECT_EQ(t.CommitPoint(), 15) << "all finished: one past the highest read";
  EXPECT_EQ(t.unfinished(), 0u);
}

TEST(PartitionTrackerTest, StaleAndRepeatedFinishesChangeNothing) {
  PartitionTracker t;
  t.Started(5);
  t.Started(6);
  t.Finished(4);   // never started here (before a seek, say)
  t.Finished(99);  // not read yet
  EXPECT_EQ(t.CommitPoint(), 5);
  EXPECT_EQ(t.unfinished(), 2u);
  t.Finished(5);
  t.Finished(5);
  EXPECT_EQ(t.CommitPoint(), 6);
  EXPECT_EQ(t.unfinished(), 1u);
}

TEST(PartitionTrackerTest, GapsInTheLogDoNotHoldTheCommitBack) {
  // Compacted or transactional topics skip offsets: only what was read counts.
  PartitionTracker t;
  t.Started(100);
  t.Started(105);
  t.Finished(100);
  EXPECT_EQ(t.CommitPoint(), 105);
  t.Finished(105);
  EXPECT_EQ(t.CommitPoint(), 106);
}

}  // namespace
}  // namespace cdnwarm::bridge
