#pragma once

// Constants of the contracts in proto/ that the code on both sides must agree on: the
// bridge and its subscribers (the warmer, the tests' doubles). Each one is documented in
// the .proto where the contract is.

#include "absl/time/time.h"

namespace cdnwarm::common {

// bridge.proto, Subscribe: the initial metadata key that tells a subscriber its
// subscription is registered (its value is the subscription id).
inline constexpr char kSubscriptionMetadata[] = "cdnwarm-subscription";

// bridge.proto, SubscribeRequest.ack_deadline and ModifyAckDeadline: the longest ack
// deadline a subscriber may ask for.
inline constexpr absl::Duration kMaxAckDeadline = absl::Minutes(10);

}  // namespace cdnwarm::common
