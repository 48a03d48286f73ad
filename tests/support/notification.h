#pragma once

// absl::Notification on std::mutex: Debian's Abseil is not built with TSan, so TSan cannot
// see the ordering its Notification provides and reports false races in tests.

#include <condition_variable>
#include <mutex>

#include "absl/time/time.h"

namespace cdnwarm::testing {

class Notification {
 public:
  void Notify() {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    cv_.notify_all();
  }
  bool WaitForNotificationWithTimeout(absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    const bool done =
        cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [this] { return done_; });
    // GCC 12's TSan does not intercept pthread_cond_clockwait, which wait_for uses, so it
    // misses the mutex re-acquired on wake-up; taking it again visibly gives TSan the
    // ordering with Notify.
    lock.unlock();
    lock.lock();
    return done;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
};

}  // namespace cdnwarm::testing
