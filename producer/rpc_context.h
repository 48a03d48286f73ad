#pragma once

// What every Producer RPC shares, handed to the service and its reactors instead of the
// service itself: admission (drain state, bearer token), the deadline a record may wait
// for the broker, and the per-RPC counter.

#include <atomic>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/core/bearer_auth.h"
#include "common/core/clock.h"
#include "common/core/metrics.h"
#include "grpcpp/grpcpp.h"

namespace cdnwarm::producer {

class RpcContext {
 public:
  RpcContext(const common::BearerAuth& auth, absl::Duration max_wait, metrics::Registry& registry,
             const common::Clock& clock = common::Clock::Real());

  // From now on new calls get UNAVAILABLE.
  void StartDrain() { draining_ = true; }
  bool draining() const { return draining_; }

  // Drain state and authentication, checked first by every RPC.
  absl::Status Admit(const grpc::CallbackServerContext& ctx) const;
  // How long a record of this call may wait for the broker: --max_wait, or a little before
  // the caller's own deadline, so it hears UNAVAILABLE rather than a bare timeout.
  absl::Time RecordDeadline(const grpc::CallbackServerContext& ctx) const;
  void Count(absl::string_view rpc, const grpc::Status& status);
  // Finishes a unary call with `status` and counts it.
  grpc::ServerUnaryReactor* FinishUnary(grpc::ServerUnaryReactor* reactor, absl::string_view rpc,
                                        const absl::Status& status);
  const common::Clock& clock() const { return clock_; }

 private:
  const common::BearerAuth& auth_;
  const absl::Duration max_wait_;
  const common::Clock& clock_;
  metrics::Family<metrics::Counter>& rpcs_;
  std::atomic<bool> draining_{false};
};

// "job_id: is empty" and the like (naming `field`), or OK.
absl::Status CheckJobId(const std::string& job_id, absl::string_view field = "job_id");

}  // namespace cdnwarm::producer
