#pragma once

// A Clock that moves only when the test says so (common/core/clock.h).

#include "absl/base/thread_annotations.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/core/clock.h"
#include "common/core/sync.h"

namespace cdnwarm::testing {

class FakeClock final : public common::Clock {
 public:
  // Starts at the real time, so times a test builds with absl::Now() stay comparable.
  explicit FakeClock(absl::Time start = absl::Now()) : now_(start) {}
  absl::Time Now() const override {
    common::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    common::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable common::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cdnwarm::testing
