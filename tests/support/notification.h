#pragma once

// absl::Notification on common::Mutex: Debian's Abseil is not built with TSan, so TSan cannot
// see the ordering its Notification provides and reports false races in tests.

#include "absl/base/thread_annotations.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/core/sync.h"

namespace cdnwarm::testing {

class Notification {
 public:
  void Notify() {
    common::MutexLock lock(&mu_);
    done_ = true;
    cv_.SignalAll();
  }
  bool WaitForNotificationWithTimeout(absl::Duration timeout) {
    common::MutexLock lock(&mu_);
    const absl::Time deadline = absl::Now() + timeout;
    while (!done_) {
      if (cv_.WaitWithDeadline(&mu_, deadline)) break;
    }
    return done_;
  }

 private:
  common::Mutex mu_;
  common::CondVar cv_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace cdnwarm::testing
