#pragma once

// Which offsets of one partition are finished, so the commit never passes an unfinished
// delivery: the commit point is the lowest unfinished offset (acks arrive in any order).

#include <cstddef>
#include <cstdint>
#include <set>

namespace cdnwarm::bridge {

class PartitionTracker {
 public:
  // An offset read from Kafka and not finished yet.
  void Started(int64_t offset);
  // Finishing an offset that is not started (stale, twice) changes nothing.
  void Finished(int64_t offset);

  // The offset to commit: the lowest unfinished one, or one past the highest read when
  // everything read is finished; -1 before anything was read.
  int64_t CommitPoint() const;
  size_t unfinished() const { return unfinished_.size(); }

 private:
  std::set<int64_t> unfinished_;
  int64_t next_ = -1;  // one past the highest offset read
};

}  // namespace cdnwarm::bridge
