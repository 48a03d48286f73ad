#pragma once

// A fixed set of threads for blocking work (fetching and expanding documents), with a
// bounded queue so overload is refused, not buffered without limit.

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/core/sync.h"

namespace cdnwarm::producer {

class WorkerPool {
 public:
  WorkerPool(int threads, size_t max_queued);
  // Runs what is queued, then joins.
  ~WorkerPool();

  // False when the queue is full or the pool is stopping.
  bool TrySubmit(std::function<void()> work);

 private:
  void Run();

  const size_t max_queued_;
  common::Mutex mu_;
  common::CondVar cv_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace cdnwarm::producer
