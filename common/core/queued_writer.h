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
// is written), the client cancelling (OnCancel), or a write failing. Whichever is first
// decides the status; OnEnd hears it once.
//
// Locking. `mu_` is innermost: Enqueue and End may be called under the owner's locks, and
// nothing here calls out while holding it.
//
// Lifetime is the subclass's: it overrides OnDone (gRPC's last call) and frees itself there.

#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/core/sync.h"
#include "grpcpp/grpcpp.h"

namespace cdnwarm::common {

template <typename Message>
class QueuedWriter : public grpc::ServerWriteReactor<Message> {
 public:
  // `gone` names the client in the CANCELLED status of a stream whose client went away.
  explicit QueuedWriter(std::string gone) : gone_(std::move(gone)) {}

  // Starts writing what was queued so far. Until then Enqueue only queues, so the stream
  // can be registered under its owner's lock first.
  void StartWriting() {
    {
      MutexLock lock(&mu_);
      started_ = true;
    }
    Advance();
  }

  // Queues `message`; false once the stream is ending (the caller keeps it).
  bool Enqueue(Message message) {
    {
      MutexLock lock(&mu_);
      if (ending_ || end_after_queue_) return false;
      queue_.push_back(std::move(message));
    }
    Advance();
    return true;
  }

  // Ends with `status` once the write in flight (if any) is done. What is still queued is
  // dropped (TakeDropped).
  void End(const grpc::Status& status) {
    if (!Decide(status, /*drop=*/true)) return;
    OnEnd(status);
    Advance();
  }

  // Ends with `status` once everything queued is written.
  void EndAfterQueue(const grpc::Status& status) {
    {
      MutexLock lock(&mu_);
      if (ending_ || end_after_queue_) return;
      end_after_queue_ = true;
      end_status_ = status;
    }
    OnEnd(status);
    Advance();
  }

  // True when nothing is queued or being written, and no end is decided.
  bool Idle() {
    MutexLock lock(&mu_);
    return !writing_ && queue_.empty() && !ending_ && !end_after_queue_;
  }

  // The messages dropped by an end, once.
  std::vector<Message> TakeDropped() {
    MutexLock lock(&mu_);
    return std::move(dropped_);
  }

  void OnWriteDone(bool ok) override {
    bool ended = false;
    {
      MutexLock lock(&mu_);
      writing_ = false;
      // The client is gone. OnCancel may have come first or may follow; either way the
      // stream must still Finish, or OnDone never runs and server shutdown waits for ever.
      if (!ok) ended = DecideLocked(Gone(), /*drop=*/true);
    }
    if (ended) OnEnd(Gone());
    Advance();
  }

  void OnCancel() override { End(Gone()); }

 protected:
  // The end's status, once, without the lock held, before Finish.
  virtual void OnEnd(const grpc::Status& /*status*/) {}

 private:
  grpc::Status Gone() const { return grpc::Status(grpc::StatusCode::CANCELLED, gone_); }

  bool Decide(const grpc::Status& status, bool drop) {
    MutexLock lock(&mu_);
    return DecideLocked(status, drop);
  }

  // Decides the end, once; false when it was already decided.
  bool DecideLocked(const grpc::Status& status, bool drop) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (ending_) return false;
    const bool first = !end_after_queue_;
    ending_ = true;
    end_status_ = status;
    if (drop) {
      for (auto& m : queue_) dropped_.push_back(std::move(m));
      queue_.clear();
    }
    return first;
  }

  // The next step: a write, Finish, or nothing. Decided under the lock, made after it.
  void Advance() {
    std::optional<grpc::Status> finish;
    {
      MutexLock lock(&mu_);
      if (!started_ || writing_ || finished_) return;
      if (queue_.empty() && end_after_queue_) ending_ = true;
      if (ending_) {
        finished_ = true;
        finish = end_status_;
      } else if (!queue_.empty()) {
        current_ = std::move(queue_.front());
        queue_.pop_front();
        writing_ = true;
      } else {
        return;
      }
    }
    if (finish) {
      this->Finish(*finish);
    } else {
      this->StartWrite(&current_);
    }
  }

  const std::string gone_;
  Mutex mu_;
  std::deque<Message> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<Message> dropped_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool end_after_queue_ ABSL_GUARDED_BY(mu_) = false;  // finish once the queue is written
  bool ending_ ABSL_GUARDED_BY(mu_) = false;           // finish once no write is in flight
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status end_status_ ABSL_GUARDED_BY(mu_);
  // Set under mu_ while no write is in flight; read by gRPC while writing_.
  Message current_;
};

}  // namespace cdnwarm::common
