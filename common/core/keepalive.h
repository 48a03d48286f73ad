#pragma once

// gRPC keepalive, both ends: HTTP/2 pings on every connection, idle or not, so a path that
// died without a FIN or RST (a node gone, a NAT or load balancer dropping state) is found
// within time + timeout. Without them a server keeps redelivering to a dead stream until
// the ack deadlines pass, and a warmer's Read of its subscription waits for ever.

#include "absl/time/time.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/channel_arguments.h"

namespace cdnwarm::common {

struct Keepalive {
  absl::Duration time = absl::Seconds(20);     // between pings
  absl::Duration timeout = absl::Seconds(10);  // for the ping's answer, then the connection closes
};

// Pings clients, and accepts their pings as often as every second without closing the
// connection (gRPC's default answers a client pinging more often than every 5 minutes with
// GOAWAY "too_many_pings").
void ApplyServerKeepalive(const Keepalive& k, grpc::ServerBuilder& builder);

// Channel arguments for a long-lived client channel (the warmer's subscription): pings
// even with no call active and with no data sent in between.
grpc::ChannelArguments ClientKeepaliveArguments(const Keepalive& k);

}  // namespace cdnwarm::common
