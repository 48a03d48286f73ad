#pragma once

// How fast one client may hand the producer URLs: a token bucket per client, refilled at
// `rate` URLs per second up to `burst`. A client is its TLS certificate's common name when
// it presents one, else its IP address (one bucket per address behind a NAT or proxy); a
// console user is the browser's address, which the console names on its in-process calls.

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/core/sync.h"
#include "grpcpp/server_context.h"

namespace cdnwarm::producer {

// The client a call counts against: "cn:<common name>", "ip:<address>", or for the
// console's in-process calls "console:<browser address>".
std::string ClientIdentity(const grpc::ServerContextBase& ctx);

class ClientRateLimiter {
 public:
  // rate 0: unlimited. Buckets of clients idle long enough to be full are forgotten once
  // more than max_clients are known.
  ClientRateLimiter(double rate, double burst, size_t max_clients = 100000);

  bool enabled() const { return rate_ > 0; }
  // The call's client (ClientIdentity), or "" when no limit is set, so unlimited calls do
  // no peer parsing.
  std::string Client(const grpc::ServerContextBase& ctx) const {
    return enabled() ? ClientIdentity(ctx) : std::string();
  }

  // Takes n tokens when the bucket holds them; else takes none and returns
  // RESOURCE_EXHAUSTED saying the limit and when to retry.
  absl::Status TryTake(const std::string& client, double n, absl::Time now);
  // Takes n tokens, going into debt if need be; returns how long the client should wait
  // before it sends more (zero when it is within its rate).
  absl::Duration Take(const std::string& client, double n, absl::Time now);

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time updated;
  };
  Bucket& Refill(const std::string& client, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ForgetIdle(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const double rate_;
  const double burst_;
  const size_t max_clients_;
  common::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cdnwarm::producer
