#include "streamer-bridge/subscribe_stream.h"

#include <utility>

namespace cdnwarm::bridge {

SubscribeStream::SubscribeStream(std::string region, std::string subscriber_id,
                                 std::function<void(SubscribeStream*)> on_done)
    : region_(std::move(region)),
      subscriber_id_(std::move(subscriber_id)),
      on_done_(std::move(on_done)) {}

void SubscribeStream::Start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    started_ = true;
  }
  StartSendInitialMetadata();
  std::unique_lock<std::mutex> lock(mu_);
  AdvanceLocked(lock);
}

bool SubscribeStream::Send(cdnwarm::v1::Delivery d) {
  std::unique_lock<std::mutex> lock(mu_);
  if (ending_) return false;  // the region takes it back
  queue_.push_back(std::move(d));
  AdvanceLocked(lock);
  return true;
}

std::vector<std::string> SubscribeStream::TakeNeverSent() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::move(never_sent_);
}

void SubscribeStream::DropQueueLocked() {
  for (const auto& d : queue_) never_sent_.push_back(d.ack_id());
  queue_.clear();
}

void SubscribeStream::End(const grpc::Status& status) {
  std::unique_lock<std::mutex> lock(mu_);
  if (ending_) return;
  ending_ = true;
  end_status_ = status;
  DropQueueLocked();
  AdvanceLocked(lock);
}

void SubscribeStream::Drained() {
  std::unique_lock<std::mutex> lock(mu_);
  if (ending_ || drained_) return;
  drained_ = true;
  end_status_ = grpc::Status::OK;
  AdvanceLocked(lock);
}

void SubscribeStream::OnWriteDone(bool ok) {
  std::unique_lock<std::mutex> lock(mu_);
  writing_ = false;
  if (!ok && !ending_) {
    // The client is gone. OnCancel may have come first or may follow; either way the
    // stream must still Finish, or OnDone never runs and server shutdown waits for ever.
    ending_ = true;
    end_status_ = grpc::Status(grpc::StatusCode::CANCELLED, "subscriber went away");
    DropQueueLocked();
  }
  AdvanceLocked(lock);
}

void SubscribeStream::OnCancel() {
  End(grpc::Status(grpc::StatusCode::CANCELLED, "subscriber went away"));
}

void SubscribeStream::OnDone() {
  on_done_(this);
  delete this;
}

void SubscribeStream::AdvanceLocked(std::unique_lock<std::mutex>& lock) {
  if (!started_ || writing_ || finished_) return;
  if (ending_) {
    finished_ = true;
    const grpc::Status status = end_status_;
    lock.unlock();
    Finish(status);
    return;
  }
  if (queue_.empty()) {
    if (drained_) {
      // Everything sent before the drain is written: the subscriber has read it all.
      ending_ = true;
      AdvanceLocked(lock);
    }
    return;
  }
  current_ = std::move(queue_.front());
  queue_.pop_front();
  writing_ = true;
  lock.unlock();
  StartWrite(&current_);
}

}  // namespace cdnwarm::bridge
