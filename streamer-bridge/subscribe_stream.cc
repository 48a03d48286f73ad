#include "streamer-bridge/subscribe_stream.h"

#include <deque>
#include <type_traits>
#include <utility>

#include "common/core/queued_writer.h"

namespace cdnwarm::bridge {
namespace {

constexpr char kGone[] = "subscriber went away";

template <typename Message>
class Stream final : public common::BasicQueuedWriter<Message, cdnwarm::v1::Delivery>,
                     public SubscribeStream {
 public:
  using Writer = common::BasicQueuedWriter<Message, cdnwarm::v1::Delivery>;
  Stream(std::string region, std::string subscriber_id,
         std::function<void(SubscribeStream*)> on_done)
      : Writer(kGone),
        SubscribeStream(std::move(region), std::move(subscriber_id), std::move(on_done)) {}

  void Start() override {
    this->StartSendInitialMetadata();
    this->StartWriting();
  }
  void End(const grpc::Status& status) override { Writer::End(status); }
  bool Send(cdnwarm::v1::Delivery delivery) override { return this->Enqueue(std::move(delivery)); }
  // The subscriber drained and holds nothing: the stream ends OK after what is queued.
  void Drained() override { this->EndAfterQueue(grpc::Status::OK); }
  std::vector<std::string> TakeNeverSent() override {
    std::vector<std::string> ack_ids;
    for (auto& d : this->TakeDropped()) ack_ids.push_back(std::move(*d.mutable_ack_id()));
    return ack_ids;
  }

  grpc::ServerWriteReactor<cdnwarm::v1::Delivery>* single() override {
    if constexpr (std::is_same_v<Message, cdnwarm::v1::Delivery>) return this;
    return nullptr;
  }
  grpc::ServerWriteReactor<cdnwarm::v1::DeliveryBatch>* batched() override {
    if constexpr (std::is_same_v<Message, cdnwarm::v1::DeliveryBatch>) return this;
    return nullptr;
  }

  void OnSendInitialMetadataDone(bool) override {}
  void OnDone() override {
    Done();
    delete this;
  }

 protected:
  void TakeNext(std::deque<cdnwarm::v1::Delivery>& queue, Message& out) override {
    if constexpr (std::is_same_v<Message, cdnwarm::v1::Delivery>) {
      out = std::move(queue.front());
      queue.pop_front();
    } else {
      // Clear keeps the repeated field's Delivery objects, and the moves swap into them:
      // a batch allocates nothing once its stream has written one as large.
      out.Clear();
      size_t bytes = 0;
      while (!queue.empty() && out.deliveries_size() < kMaxBatchDeliveries) {
        const size_t size = queue.front().ByteSizeLong();
        if (out.deliveries_size() > 0 && bytes + size > kMaxBatchBytes) break;
        bytes += size;
        *out.add_deliveries() = std::move(queue.front());
        queue.pop_front();
      }
    }
  }
};

}  // namespace

SubscribeStream::SubscribeStream(std::string region, std::string subscriber_id,
                                 std::function<void(SubscribeStream*)> on_done)
    : region_(std::move(region)),
      subscriber_id_(std::move(subscriber_id)),
      on_done_(std::move(on_done)) {}

SubscribeStream* SubscribeStream::New(bool batched, std::string region, std::string subscriber_id,
                                      std::function<void(SubscribeStream*)> on_done) {
  if (batched) {
    return new Stream<cdnwarm::v1::DeliveryBatch>(std::move(region), std::move(subscriber_id),
                                                  std::move(on_done));
  }
  return new Stream<cdnwarm::v1::Delivery>(std::move(region), std::move(subscriber_id),
                                           std::move(on_done));
}

}  // namespace cdnwarm::bridge
