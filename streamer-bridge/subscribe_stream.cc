#include "streamer-bridge/subscribe_stream.h"

#include <utility>

namespace cdnwarm::bridge {

SubscribeStream::SubscribeStream(std::string region, std::string subscriber_id,
                                 std::function<void(SubscribeStream*)> on_done)
    : QueuedWriter("subscriber went away"),
      region_(std::move(region)),
      subscriber_id_(std::move(subscriber_id)),
      on_done_(std::move(on_done)) {}

void SubscribeStream::Start() {
  StartSendInitialMetadata();
  StartWriting();
}

std::vector<std::string> SubscribeStream::TakeNeverSent() {
  std::vector<std::string> ack_ids;
  for (const auto& d : TakeDropped()) ack_ids.push_back(d.ack_id());
  return ack_ids;
}

void SubscribeStream::OnDone() {
  on_done_(this);
  delete this;
}

}  // namespace cdnwarm::bridge
