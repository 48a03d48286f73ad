#include "streamer-bridge/partition_tracker.h"

#include <algorithm>

namespace cdnwarm::bridge {

void PartitionTracker::Started(int64_t offset) {
  unfinished_.insert(offset);
  next_ = std::max(next_, offset + 1);
}

void PartitionTracker::Finished(int64_t offset) { unfinished_.erase(offset); }

int64_t PartitionTracker::CommitPoint() const {
  if (!unfinished_.empty()) return *unfinished_.begin();
  return next_;
}

}  // namespace cdnwarm::bridge
