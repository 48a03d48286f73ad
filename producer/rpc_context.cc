#include "producer/rpc_context.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/core/grpc_status.h"

namespace cdnwarm::producer {

constexpr size_t kMaxJobIdBytes = 64;

RpcContext::RpcContext(const common::BearerAuth& auth, absl::Duration max_wait,
                       metrics::Registry& registry, const common::Clock& clock)
    : auth_(auth),
      max_wait_(max_wait),
      clock_(clock),
      rpcs_(registry.AddCounter("cdnwarm_producer_rpcs_total", "Producer RPCs by method and code",
                                {"rpc", "code"})) {}

absl::Status RpcContext::Admit(const grpc::CallbackServerContext& ctx) const {
  if (draining_) return absl::UnavailableError("producer is shutting down; retry elsewhere");
  return auth_.Check(ctx);
}

absl::Time RpcContext::RecordDeadline(const grpc::CallbackServerContext& ctx) const {
  const absl::Time cap = clock_.Now() + max_wait_;
  const std::chrono::system_clock::time_point d = ctx.deadline();
  if (d == std::chrono::system_clock::time_point::max()) return cap;
  // Answer a little before the caller gives up, so it sees UNAVAILABLE, not a bare timeout.
  return std::min(cap, absl::FromChrono(d) - absl::Milliseconds(100));
}

void RpcContext::Count(absl::string_view rpc, const grpc::Status& status) {
  rpcs_
      .Labels({std::string(rpc),
               absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()))})
      .Increment();
}

grpc::ServerUnaryReactor* RpcContext::FinishUnary(grpc::ServerUnaryReactor* reactor,
                                                  absl::string_view rpc,
                                                  const absl::Status& status) {
  const grpc::Status g = common::ToGrpcStatus(status);
  Count(rpc, g);
  reactor->Finish(g);
  return reactor;
}

absl::Status CheckJobId(const std::string& job_id, absl::string_view field) {
  if (job_id.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": is empty"));
  if (job_id.size() > kMaxJobIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": is longer than ", kMaxJobIdBytes, " bytes"));
  }
  return absl::OkStatus();
}

}  // namespace cdnwarm::producer
