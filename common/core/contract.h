#pragma once

// Constants of the contracts that the code on both sides must agree on: the bridge and its
// subscribers (the warmer, the tests' doubles), the console and the producer. Each one of
// proto/ is documented in the .proto where the contract is.

#include "absl/time/time.h"

namespace cdnwarm::common {

// bridge.proto, Subscribe: the initial metadata key that tells a subscriber its
// subscription is registered (its value is the subscription id).
inline constexpr char kSubscriptionMetadata[] = "cdnwarm-subscription";

// bridge.proto, SubscribeRequest.ack_deadline and ModifyAckDeadline: the longest ack
// deadline a subscriber may ask for.
inline constexpr absl::Duration kMaxAckDeadline = absl::Minutes(10);

// The console (common/web/json_gateway.h) calls the producer over its in-process channel,
// so every browser would be the same peer; the gateway names the browser's address in this
// metadata key. The producer believes it only on in-process calls.
inline constexpr char kConsoleClientMetadata[] = "cdnwarm-console-client";

}  // namespace cdnwarm::common
