#pragma once

// cdnwarm's locks: a mutex, its scoped lock and a condition variable, annotated for clang's
// thread-safety analysis (-Wthread-safety, the clang preset). Every piece of shared state is
// ABSL_GUARDED_BY one of these Mutexes, and every function that needs a lock held says so
// with ABSL_EXCLUSIVE_LOCKS_REQUIRED; the clang build checks both at every use.
//
// Why not absl::Mutex: Debian's Abseil is not built with ThreadSanitizer, so TSan cannot see
// the ordering an absl::Mutex provides and would report false races. These are
// std::mutex and std::condition_variable, which TSan intercepts, under absl's annotations.
//
// Waits take a deadline as absl::Time and wait on the system clock: libstdc++ then waits with
// pthread_cond_timedwait, which TSan intercepts (GCC 12's TSan does not intercept the
// pthread_cond_clockwait that steady-clock waits use, and so misses the re-acquired lock).

#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace cdnwarm::common {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds `mu` for its scope.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// Wakes threads waiting on a Mutex's state. Waiters loop on their own condition:
//   while (!done_) cv_.Wait(&mu_);
class CondVar {
 public:
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

  // Releases `mu`, sleeps until signalled (or spuriously), and takes `mu` again.
  void Wait(Mutex* mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }

  // As Wait, but returns by `deadline` at the latest. True when the deadline passed.
  bool WaitWithDeadline(Mutex* mu, absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (deadline == absl::InfiniteFuture()) {
      Wait(mu);
      return false;
    }
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    const bool timed_out =
        cv_.wait_until(lock, absl::ToChronoTime(deadline)) == std::cv_status::timeout;
    lock.release();
    return timed_out;
  }

  bool WaitWithTimeout(Mutex* mu, absl::Duration timeout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return WaitWithDeadline(
        mu, timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + timeout);
  }

 private:
  std::condition_variable cv_;
};

}  // namespace cdnwarm::common
