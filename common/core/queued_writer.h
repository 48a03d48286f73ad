#pragma once

// A server-streaming reactor on gRPC's callback API that writes queued messages one at a
// time, in order, and finishes exactly once: the bridge's Subscribe stream, the producer's
// WatchJob and the tests' fake bridge are each one of these.
//
// gRPC allows one write in flight per stream, and Finish only once. QueuedWriter keeps the
// queue, the write in flight and the decided end under its own lock, and makes every gRPC
// call (StartWrite, Finish) after releasing it: gRPC may run reactions inline.
//
// The end comes one of four ways, in any order with one another: End (drop what is queued,
// finish once the write in flight is done), EndAfterQueue (finish once everything queued
// is written), the client cancelling (OnCancel), or a write failing. An End, cancel or
// failed write decides the status unless one came before it; EndAfterQueue's status holds
// only if none of those comes before the queue is written. OnEnd hears the status Finish
// is called with, once.
//
// Locking. `mu_` is innermost: Enqueue and End may be called under the owner's locks, and
// nothing here calls out while holding it.
//
// Lifetime is the subclass's: it overrides OnDone (gRPC's last call) and frees itself there.
//
// Items and messages. QueuedWriter<Message> queues Messages and writes each as it was
// queued. BasicQueuedWriter<Message, Item> queues Items and leaves it to the subclass's
// TakeNext to make the next Message of one or more of them: the bridge's SubscribeBatched
// stream queues Deliveries and writes, in one DeliveryBatch, every one queued while the
// previous write was in flight.

#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/core/sync.h"
#include "grpcpp/grpcpp.h"

namespace cdnwarm::common {

template <typename Message, typename Item>
class BasicQueuedWriter : public grpc::ServerWriteReactor<Message> {
 public:
  // `gone` names the client in the CANCELLED status of a stream whose client went away.
  explicit BasicQueuedWriter(std::string gone) : gone_(std::move(gone)) {}

  // Starts writing what was queued so far. Until then Enqueue only queues, so the stream
  // can be registered under its owner's lock first.
  void StartWriting() {
    Step step;
    {
      MutexLock lock(&mu_);
      started_ = true;
      step = NextLocked();
    }
    Take(step);
  }

  // Queues `item`; false once the stream is ending (the caller keeps it).
  bool Enqueue(Item item) {
    Step step;
    {
      MutexLock lock(&mu_);
      if (ending_ || end_after_queue_) return false;
      queue_.push_back(std::move(item));
      step = NextLocked();
    }
    Take(step);
    return true;
  }

  // Ends with `status` once the write in flight (if any) is done. What is still queued is
  // dropped (TakeDropped).
  void End(const grpc::Status& status) {
    Step step;
    {
      MutexLock lock(&mu_);
      DecideLocked(status);
      step = NextLocked();
    }
    Take(step);
  }

  // Ends with `status` once everything queued is written.
  void EndAfterQueue(const grpc::Status& status) {
    Step step;
    {
      MutexLock lock(&mu_);
      if (ending_ || end_after_queue_) return;
      end_after_queue_ = true;
      end_status_ = status;
      step = NextLocked();
    }
    Take(step);
  }

  // True when nothing is queued or being written, and no end is decided.
  bool Idle() {
    MutexLock lock(&mu_);
    return !writing_ && queue_.empty() && !ending_ && !end_after_queue_;
  }

  // The items dropped by an end, once.
  std::vector<Item> TakeDropped() {
    MutexLock lock(&mu_);
    return std::move(dropped_);
  }

  void OnWriteDone(bool ok) override {
    Step step;
    {
      MutexLock lock(&mu_);
      writing_ = false;
      // The client is gone. OnCancel may have come first or may follow; either way the
      // stream must still Finish, or OnDone never runs and server shutdown waits for ever.
      if (!ok) DecideLocked(Gone());
      step = NextLocked();
    }
    Take(step);
  }

  void OnCancel() override { End(Gone()); }

 protected:
  // The status the stream finishes with, once, just before Finish, without the lock.
  virtual void OnEnd(const grpc::Status& /*status*/) {}
  // Moves one or more items out of `queue` (never empty) into `out`, the next message to
  // write. Runs under the writer's lock: it may only move items, never call out.
  virtual void TakeNext(std::deque<Item>& queue, Message& out) = 0;

 private:
  // What to do once the lock is released. Only the step that writes or finishes touches
  // the object after the lock: a finished stream may be deleted (OnDone) at any moment.
  struct Step {
    enum { kNothing, kWrite, kFinish } what = kNothing;
    grpc::Status status;
  };

  grpc::Status Gone() const { return grpc::Status(grpc::StatusCode::CANCELLED, gone_); }

  // Decides the end now (dropping what is queued), unless it is decided already.
  void DecideLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (ending_) return;
    ending_ = true;
    end_status_ = status;
    for (auto& m : queue_) dropped_.push_back(std::move(m));
    queue_.clear();
  }

  // The next step: a write, Finish, or nothing. Finish is chosen once, by one thread, and
  // never while a write is in flight; a write never while another is.
  Step NextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Step step;
    if (!started_ || writing_ || finished_) return step;
    if (queue_.empty() && end_after_queue_) ending_ = true;
    if (ending_) {
      finished_ = true;
      step.what = Step::kFinish;
      step.status = end_status_;
    } else if (!queue_.empty()) {
      TakeNext(queue_, current_);
      writing_ = true;
      step.what = Step::kWrite;
    }
    return step;
  }

  void Take(const Step& step) {
    if (step.what == Step::kFinish) {
      OnEnd(step.status);
      this->Finish(step.status);
    } else if (step.what == Step::kWrite) {
      this->StartWrite(&current_);
    }
  }

  const std::string gone_;
  Mutex mu_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<Item> dropped_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool end_after_queue_ ABSL_GUARDED_BY(mu_) = false;  // finish once the queue is written
  bool ending_ ABSL_GUARDED_BY(mu_) = false;           // finish once no write is in flight
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status end_status_ ABSL_GUARDED_BY(mu_);
  // Set under mu_ while no write is in flight; read by gRPC while writing_.
  Message current_;
};

// Writes each queued message as it was queued.
template <typename Message>
class QueuedWriter : public BasicQueuedWriter<Message, Message> {
 public:
  using BasicQueuedWriter<Message, Message>::BasicQueuedWriter;

 protected:
  void TakeNext(std::deque<Message>& queue, Message& out) override {
    out = std::move(queue.front());
    queue.pop_front();
  }
};

}  // namespace cdnwarm::common
